# Log rotation of an application's logs, with its own state file.
mkdir -p logs && seq 1 2000 > logs/app.log
cat > rotate.conf <<CONF
$PWD/logs/app.log {
    rotate 3
    compress
    missingok
}
CONF
logrotate -f -s "$PWD/state" rotate.conf
test -f logs/app.log.1.gz
