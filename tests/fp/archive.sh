# Archives: tar with gzip, listing, extraction.
mkdir -p src && seq 1 5000 > src/data.txt
tar czf src.tgz src && gzip -k -f src.tgz && tar tzf src.tgz > /dev/null
mkdir out && tar xzf src.tgz -C out
