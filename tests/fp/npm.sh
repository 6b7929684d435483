# A Node project and a package from the npm registry.
mkdir proj && cd proj
npm init -y > /dev/null
npm install --silent --no-audit --no-fund is-number@7 > /dev/null
node -e 'console.log(require("is-number")(5))' > /dev/null
