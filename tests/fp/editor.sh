# Editing files: vim in Ex mode (no terminal), sed -i.
printf 'alpha\nbeta\n' > notes.txt
vim -Es -u NONE -c '%s/alpha/gamma/' -c 'wq' notes.txt
sed -i 's/beta/delta/' notes.txt
grep -q gamma notes.txt
