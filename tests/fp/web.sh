# A web server serving traffic: nginx (when installed) and Python's http.server, hit with curl.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m http.server --bind 127.0.0.1 "$port" > /dev/null 2>&1 & srv=$!
for i in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
for i in $(seq 1 20); do curl -s -o /dev/null "http://127.0.0.1:$port/"; done
kill $srv
if command -v nginx > /dev/null; then
  nport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkdir -p www ng && echo hello > www/index.html
  cat > ng/nginx.conf <<CONF
daemon off; pid $PWD/ng/nginx.pid; error_log $PWD/ng/error.log;
events {}
http { access_log $PWD/ng/access.log; client_body_temp_path $PWD/ng; proxy_temp_path $PWD/ng;
       fastcgi_temp_path $PWD/ng; uwsgi_temp_path $PWD/ng; scgi_temp_path $PWD/ng;
       server { listen 127.0.0.1:$nport; root $PWD/www; } }
CONF
  nginx -c "$PWD/ng/nginx.conf" -p "$PWD/ng" & ng=$!
  for i in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$nport/" && break; sleep 0.1; done
  for i in $(seq 1 20); do curl -s -o /dev/null "http://127.0.0.1:$nport/"; done
  kill $ng; wait $ng 2>/dev/null || true
fi
