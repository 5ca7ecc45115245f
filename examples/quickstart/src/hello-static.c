#include <stdio.h>
int main(void) {
    FILE *f = fopen("/usr/share/hello/greeting.txt", "r");
    char buf[256];
    if (f && fgets(buf, sizeof buf, f)) { fputs(buf, stdout); fclose(f); return 0; }
    puts("Hello from a static binary added by cargo-assemble!");
    return 0;
}
