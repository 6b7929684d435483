# A database serving traffic: Redis on a private port and directory, loaded with redis-benchmark.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --dir "$PWD" --save '' --daemonize no > redis.log 2>&1 & r=$!
for i in $(seq 1 50); do redis-cli -p "$port" ping > /dev/null 2>&1 && break; sleep 0.1; done
redis-benchmark -p "$port" -n 2000 -q -t set,get > /dev/null
redis-cli -p "$port" shutdown nosave > /dev/null 2>&1 || kill $r
wait $r 2>/dev/null || true
