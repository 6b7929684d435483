# A C program built with make and gcc, then run.
printf '#include <stdio.h>\nint main(void){puts("hi");return 0;}\n' > hello.c
printf 'hello: hello.c\n\tgcc -O2 -o $@ $<\nclean:\n\trm -f hello\n' > Makefile
make -s && ./hello > /dev/null && make -s clean
