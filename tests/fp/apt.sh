# Package management with apt/dpkg: download, reinstall a tiny package (postinst scripts, /usr/bin,
# /etc conffiles written by dpkg).
apt-get download -qq hostname
apt-get install -y -qq --reinstall hostname > /dev/null
