/* The whole userland of the watch tests' "no shell at all" image, built with gcc -static.
 * With no argument it waits for a signal (it starts, as its output says, and stops on SIGTERM);
 * `show PATH...` prints each path's owner, mode and content, or "PATH missing". */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void stop(int sig) { (void)sig; _exit(0); }

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "show") == 0) {
        int missing = 0;
        for (int i = 2; i < argc; i++) {
            struct stat st;
            if (lstat(argv[i], &st) != 0) {
                printf("%s missing\n", argv[i]);
                missing = 1;
                continue;
            }
            printf("%s %u:%u %o ", argv[i], (unsigned)st.st_uid, (unsigned)st.st_gid, (unsigned)(st.st_mode & 07777));
            if (S_ISDIR(st.st_mode)) {
                printf("dir\n");
                continue;
            }
            FILE *f = fopen(argv[i], "r");
            char buf[256];
            size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
            buf[n] = 0;
            if (f) fclose(f);
            printf("%s", buf);
            if (n == 0 || buf[n - 1] != '\n') printf("\n");
        }
        return missing;
    }
    signal(SIGTERM, stop);
    printf("probe started\n");
    fflush(stdout);
    for (;;) pause();
}
