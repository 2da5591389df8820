/* A static test helper run inside containers: tries each system call named on the command line and
 * prints "<name> <errno>" (0 when the call succeeded), one line each; "open-r:PATH" and the like open or
 * make the node named. Built with gcc -static by
 * tests/integration/test_confinement.py; busybox has no way to make most of these calls. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

/* Runs in a forked child so that a namespace or personality it changes goes with it; the result
 * comes back as the exit status (the errno, or 0). */
static int in_child(int (*fn)(void)) {
    pid_t pid = fork();
    if (pid < 0)
        return errno;
    if (pid == 0)
        _exit(fn() < 0 ? errno : 0);
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 255;
}

static int raw_clone(unsigned long flags) {
    long pid = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0)
        _exit(0);
    if (pid > 0)
        waitpid((pid_t)pid, NULL, 0);
    return pid < 0 ? -1 : 0;
}

/* Mounts go onto a folder of the probe's own, never onto a path that matters (inside a container
 * nothing here would outlive it anyway). */
#define MNT "/tmp/.probe-mnt"
static void mnt_dir(void) { mkdir(MNT, 0700); }

static int unshare_user(void) { return unshare(CLONE_NEWUSER); }
static int unshare_mount(void) { return unshare(CLONE_NEWNS); }
static int userns_mount(void) { /* a new user and mount namespace, then a tmpfs in it */
    mnt_dir();
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
        return -1;
    return mount("none", MNT, "tmpfs", 0, NULL);
}
static int userns_cgroup_mount(void) {
    mnt_dir();
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWCGROUP) < 0)
        return -1;
    return mount("none", MNT, "cgroup2", 0, NULL);
}
static int mount_tmpfs(void) { /* in a mount namespace of its own where it can make one */
    mnt_dir();
    if (unshare(CLONE_NEWNS) == 0 && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return -1;
    return mount("none", MNT, "tmpfs", 0, NULL);
}
static int clone_newns(void) { return raw_clone(CLONE_NEWNS); }
static int clone_newuser(void) { return raw_clone(CLONE_NEWUSER); }
static int clone_plain(void) { return raw_clone(0); }
static int clone3_plain(void) {
    uint64_t args[11] = {0};
    args[4] = SIGCHLD; /* exit_signal */
    long pid = syscall(435, args, sizeof args);
    if (pid == 0)
        _exit(0);
    if (pid > 0)
        waitpid((pid_t)pid, NULL, 0);
    return pid < 0 ? -1 : 0;
}
static int keyctl_get(void) { return (int)syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -4 /* user keyring */, 0); }
static int add_key_call(void) {
    return (int)syscall(SYS_add_key, "user", "pycompose-probe", "x", 1, -2 /* process keyring */);
}
static int perf_open(void) {
    struct perf_event_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.size = sizeof attr;
    attr.type = PERF_TYPE_SOFTWARE;
    attr.config = PERF_COUNT_SW_TASK_CLOCK;
    attr.exclude_kernel = 1;
    attr.exclude_hv = 1;
    int fd = (int)syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0);
    if (fd >= 0)
        close(fd);
    return fd < 0 ? -1 : 0;
}
static int personality_query(void) { return personality(0xffffffff) < 0 ? -1 : 0; }
static int personality_linux32(void) { return personality(PER_LINUX32) < 0 ? -1 : 0; }
static int personality_no_aslr(void) { return personality(ADDR_NO_RANDOMIZE) < 0 ? -1 : 0; }
static int socket_family(int family, int type) {
    int fd = socket(family, type, 0);
    if (fd >= 0)
        close(fd);
    return fd < 0 ? -1 : 0;
}
static int vsock(void) { return socket_family(AF_VSOCK, SOCK_STREAM); }
static int unix_socket(void) { return socket_family(AF_UNIX, SOCK_STREAM); }
static int bpf_call(void) { return (int)syscall(SYS_bpf, 0 /* MAP_CREATE */, NULL, 0); }
static int userfaultfd_call(void) {
    int fd = (int)syscall(SYS_userfaultfd, 1 /* UFFD_USER_MODE_ONLY */);
    if (fd >= 0)
        close(fd);
    return fd < 0 ? -1 : 0;
}
static int io_uring(void) {
    char params[120] = {0};
    int fd = (int)syscall(425, 1, params);
    if (fd >= 0)
        close(fd);
    return fd < 0 ? -1 : 0;
}
/* file_getattr (468, Linux 6.17): newer than Docker's profile; bad arguments, so nothing happens */
static int newer_call(void) { return (int)syscall(468, -1, NULL, NULL, 0, 0); }
static int ptrace_self(void) { return (int)syscall(SYS_ptrace, 0 /* TRACEME */, 0, 0, 0); }
static int chroot_self(void) { return chroot("/"); }
static int pty(void) { /* /dev/ptmx, then the terminal it made under /dev/pts */
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0)
        return -1;
    char *name = ptsname(master);
    int slave = name ? open(name, O_RDWR | O_NOCTTY) : -1;
    if (slave < 0)
        return -1;
    close(slave);
    close(master);
    return 0;
}
static int open_rw(const char *path) {
    int fd = open(path, O_RDWR);
    if (fd >= 0)
        close(fd);
    return fd < 0 ? -1 : 0;
}
static int dev_null(void) { return open_rw("/dev/null"); }
static int dev_zero(void) { return open_rw("/dev/zero"); }
static int dev_full(void) { return open_rw("/dev/full"); }
static int dev_random(void) { return open_rw("/dev/random"); }
static int dev_urandom(void) { return open_rw("/dev/urandom"); }

static const struct { const char *name; int (*fn)(void); int forked; } probes[] = {
    {"unshare-user", unshare_user, 1}, {"unshare-mount", unshare_mount, 1}, {"userns-mount", userns_mount, 1},
    {"userns-cgroup-mount", userns_cgroup_mount, 1}, {"mount", mount_tmpfs, 1},
    {"clone-newns", clone_newns, 0}, {"clone-newuser", clone_newuser, 0}, {"clone", clone_plain, 0},
    {"clone3", clone3_plain, 0}, {"keyctl", keyctl_get, 0}, {"add_key", add_key_call, 0},
    {"perf_event_open", perf_open, 0}, {"personality-query", personality_query, 1},
    {"personality-linux32", personality_linux32, 1}, {"personality-no-aslr", personality_no_aslr, 1},
    {"socket-vsock", vsock, 0}, {"socket-unix", unix_socket, 0}, {"bpf", bpf_call, 0},
    {"userfaultfd", userfaultfd_call, 0}, {"io_uring_setup", io_uring, 0}, {"newer-call", newer_call, 0},
    {"ptrace", ptrace_self, 1},
    {"chroot", chroot_self, 1}, {"pty", pty, 0}, {"dev-null", dev_null, 0}, {"dev-zero", dev_zero, 0},
    {"dev-full", dev_full, 0}, {"dev-random", dev_random, 0}, {"dev-urandom", dev_urandom, 0},
};

/* "open-r:PATH", "open-w:PATH", "mknod-b:MAJOR:MINOR:PATH", "mknod-c:MAJOR:MINOR:PATH" */
static int path_probe(const char *arg) {
    unsigned major, minor;
    int used = 0;
    if (strncmp(arg, "open-r:", 7) == 0 || strncmp(arg, "open-w:", 7) == 0) {
        int fd = open(arg + 7, arg[5] == 'r' ? O_RDONLY : O_WRONLY);
        if (fd >= 0)
            close(fd);
        return fd < 0 ? errno : 0;
    }
    if ((strncmp(arg, "mknod-b:", 8) == 0 || strncmp(arg, "mknod-c:", 8) == 0)
        && sscanf(arg + 8, "%u:%u:%n", &major, &minor, &used) == 2 && used > 0) {
        mode_t kind = arg[6] == 'b' ? S_IFBLK : S_IFCHR;
        return mknod(arg + 8 + used, kind | 0666, makedev(major, minor)) < 0 ? errno : 0;
    }
    return -1;
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        int err = path_probe(argv[i]);
        if (err >= 0) {
            printf("%s %d\n", argv[i], err);
            continue;
        }
        size_t j;
        for (j = 0; j < sizeof probes / sizeof probes[0]; j++)
            if (strcmp(argv[i], probes[j].name) == 0)
                break;
        if (j == sizeof probes / sizeof probes[0]) {
            fprintf(stderr, "probe: unknown probe %s\n", argv[i]);
            return 2;
        }
        err = probes[j].forked ? in_child(probes[j].fn) : (probes[j].fn() < 0 ? errno : 0);
        printf("%s %d\n", argv[i], err);
    }
    return 0;
}
