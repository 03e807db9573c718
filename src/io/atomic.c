/* atomic.c — nothing half-written: temporary output files are registered while they
 * are being written, and SIGINT/SIGTERM/SIGHUP remove them before the process dies,
 * so an interrupted run leaves the previous results and no partial files. Also an
 * atomic text-file writer (temporary name, rename on success) for JSON/Markdown. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

enum { TMP_SLOTS = 64, TMP_PATH_MAX = 4096 };
/* Slot states: 0 free, 1 being filled, 2 live (the handler unlinks live ones). */
static char tmp_path[TMP_SLOTS][TMP_PATH_MAX];
static atomic_int tmp_state[TMP_SLOTS];
/* Set first thing by our handler: another thread creating a temporary file after the
 * handler's scan sees it in fpr_tmp_created and removes the file itself. */
static atomic_int dying;
static const int cleanup_signals[] = {SIGINT, SIGTERM, SIGHUP};

void fpr_tmp_cleanup_now(void)
{
    /* Async-signal-safe: atomic loads and unlink(2) only. */
    for (int i = 0; i < TMP_SLOTS; i++)
        if (atomic_load(&tmp_state[i]) == 2)
            unlink(tmp_path[i]);
}

static void on_signal(int sig)
{
    int saved = errno;
    atomic_store(&dying, 1);
    fpr_tmp_cleanup_now();
    /* SA_RESETHAND restored the default action; the re-raised signal is delivered when
     * the handler returns, so the process still dies by `sig` (exit status 128+sig). */
    raise(sig);
    errno = saved;
}

/* Installed only over the default action: an application with its own handlers (or a
 * signal ignored by nohup) keeps them, and calls fpr_tmp_cleanup_now from its handler.
 * Checked at every registration (three sigaction calls per temporary file), so an
 * action set back to the default later (a child process) gets the cleanup too. */
static void install_handlers(void)
{
    for (size_t k = 0; k < sizeof cleanup_signals / sizeof cleanup_signals[0]; k++) {
        struct sigaction old, sa;
        if (sigaction(cleanup_signals[k], NULL, &old) != 0 || (old.sa_flags & SA_SIGINFO) ||
            old.sa_handler != SIG_DFL)
            continue;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        for (size_t j = 0; j < sizeof cleanup_signals / sizeof cleanup_signals[0]; j++)
            sigaddset(&sa.sa_mask, cleanup_signals[j]);
        sa.sa_flags = SA_RESETHAND;
        sigaction(cleanup_signals[k], &sa, NULL);
    }
}

int fpr_tmp_register(const char *path)
{
    install_handlers();
    size_t n = strlen(path);
    if (n >= TMP_PATH_MAX)
        return -1;
    for (int i = 0; i < TMP_SLOTS; i++) {
        int expected = 0;
        if (atomic_compare_exchange_strong(&tmp_state[i], &expected, 1)) {
            memcpy(tmp_path[i], path, n + 1);
            atomic_store(&tmp_state[i], 2);
            return i;
        }
    }
    return -1; /* all slots busy: the file is still written atomically, just not
                * removed on a signal */
}

/* The handler runs in one thread while others go on until the re-raised signal ends
 * the process. A file registered before the handler's scan but created after it would
 * survive; the creator closes that window: registration precedes creation, and the
 * `dying` check follows it, so either the handler saw the live slot after the file
 * existed, or the creator sees `dying` here. */
void fpr_tmp_created(int slot)
{
    if (slot < 0 || slot >= TMP_SLOTS || !atomic_load(&dying))
        return;
    unlink(tmp_path[slot]);
    for (;;)
        pause(); /* the signal pending in the handler's thread ends the process */
}

void fpr_tmp_release(int slot)
{
    if (slot >= 0 && slot < TMP_SLOTS)
        atomic_store(&tmp_state[slot], 0);
}

/* ------------------------------------------------------------------ text files */
int fpr_atomic_open(const char *path, fpr_atomic_file *a)
{
    memset(a, 0, sizeof *a);
    a->slot = -1;
    int rc0 = fpr_output_check(path);
    if (rc0)
        return rc0;
    size_t n = strlen(path) + 32;
    a->final_path = fpr_strdup(path);
    a->tmp_path = fpr_calloc(n, 1);
    if (!a->final_path || !a->tmp_path) {
        fpr_atomic_abort(a);
        return FPR_ENOMEM;
    }
    snprintf(a->tmp_path, n, "%s.tmp.%ld", path, (long)getpid());
    a->slot = fpr_tmp_register(a->tmp_path);
    if (!(a->fp = fopen(a->tmp_path, "w"))) {
        int rc = fpr_error(FPR_EIO, "%s: cannot create output file (%s)", path, strerror(errno));
        fpr_atomic_abort(a);
        return rc;
    }
    fpr_tmp_created(a->slot);
    return FPR_OK;
}

int fpr_atomic_commit(fpr_atomic_file *a)
{
    int rc = FPR_OK;
    if (a->fp && (ferror(a->fp) | fclose(a->fp)))
        rc = fpr_error(FPR_EIO, "%s: writing failed (disk full?)", a->final_path);
    a->fp = NULL;
    if (!rc && rename(a->tmp_path, a->final_path) != 0)
        rc = fpr_error(FPR_EIO, "%s: cannot rename the finished temporary file into place (%s)",
                       a->final_path, strerror(errno));
    if (rc)
        unlink(a->tmp_path);
    fpr_tmp_release(a->slot);
    free(a->final_path);
    free(a->tmp_path);
    memset(a, 0, sizeof *a);
    a->slot = -1;
    return rc;
}

void fpr_atomic_abort(fpr_atomic_file *a)
{
    if (a->fp)
        fclose(a->fp);
    if (a->tmp_path)
        unlink(a->tmp_path);
    fpr_tmp_release(a->slot);
    free(a->final_path);
    free(a->tmp_path);
    memset(a, 0, sizeof *a);
    a->slot = -1;
}

/* ------------------------------------------------------------------ directories */
int fpr_mkdir_p(const char *path)
{
    char buf[TMP_PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf)
        return fpr_error(FPR_EIO, "%s: directory path empty or too long", path);
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(buf, 0777) && errno != EEXIST)
                return fpr_error(FPR_EIO, "%s: cannot create directory (%s)", buf, strerror(errno));
            *p = '/';
        }
    if (mkdir(buf, 0777) && errno != EEXIST)
        return fpr_error(FPR_EIO, "%s: cannot create directory (%s)", buf, strerror(errno));
    return FPR_OK;
}

/* ------------------------------------------------------------------ path safety */
enum { MAX_INPUTS = 1 << 16 };
static struct { dev_t dev; ino_t ino; } inputs[MAX_INPUTS];
static size_t ninputs;
static pthread_mutex_t inputs_mu = PTHREAD_MUTEX_INITIALIZER;

static const char *kind_of(mode_t m)
{
    return S_ISFIFO(m) ? "a FIFO" : S_ISCHR(m) ? "a character device" : S_ISBLK(m) ? "a block device"
         : S_ISSOCK(m) ? "a socket" : S_ISDIR(m) ? "a directory" : S_ISLNK(m) ? "a symbolic link"
         : "not a regular file";
}

int fpr_input_regular(const char *path, const char *what)
{
    struct stat st;
    if (!path || !*path)
        return fpr_error(FPR_EUSAGE, "empty path given as the %s", what);
    if (stat(path, &st) != 0)
        return fpr_error(FPR_EIO, "%s: cannot open the %s (%s)", path, what, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return fpr_error(FPR_EIO, "%s: the %s is %s; only regular files are read", path, what,
                         kind_of(st.st_mode));
    return FPR_OK;
}

void fpr_input_register(const char *path)
{
    struct stat st;
    if (!path || stat(path, &st) != 0)
        return;
    pthread_mutex_lock(&inputs_mu);
    size_t i;
    for (i = 0; i < ninputs && !(inputs[i].dev == st.st_dev && inputs[i].ino == st.st_ino); i++)
        ;
    if (i == ninputs && ninputs < MAX_INPUTS) {
        inputs[ninputs].dev = st.st_dev;
        inputs[ninputs].ino = st.st_ino;
        ninputs++;
    }
    pthread_mutex_unlock(&inputs_mu);
}

int fpr_output_check(const char *path)
{
    struct stat st;
    if (!path || !*path)
        return fpr_error(FPR_EUSAGE, "empty output path");
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? FPR_OK
                               : fpr_error(FPR_EIO, "%s: cannot inspect the output path (%s)",
                                           path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return fpr_error(FPR_EUSAGE, "%s: the output path is %s; refusing to replace it (write "
                         "to a regular file path)", path, kind_of(st.st_mode));
    int own = 0;
    pthread_mutex_lock(&inputs_mu);
    for (size_t i = 0; i < ninputs && !own; i++)
        own = inputs[i].dev == st.st_dev && inputs[i].ino == st.st_ino;
    pthread_mutex_unlock(&inputs_mu);
    if (own)
        return fpr_error(FPR_EUSAGE, "%s: the output is one of this command's inputs; refusing "
                         "to overwrite it", path);
    return FPR_OK;
}

int fpr_output_dir_check(const char *dir)
{
    struct stat st;
    if (!dir || !*dir)
        return fpr_error(FPR_EUSAGE, "empty output directory path");
    if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode))
        return fpr_error(FPR_EUSAGE, "%s: the output directory exists and is %s", dir,
                         kind_of(st.st_mode));
    return FPR_OK;
}

int fpr_dir_lock(const char *dir, int *fd)
{
    *fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*fd < 0)
        return fpr_error(FPR_EIO, "%s: cannot open the output directory to lock it (%s)", dir,
                         strerror(errno));
    if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(*fd);
        *fd = -1;
        return e == EWOULDBLOCK
                   ? fpr_error(FPR_EUSAGE, "%s: another frameprec process is writing this "
                               "directory (it is locked); wait for it or choose another -o", dir)
                   : fpr_error(FPR_EIO, "%s: cannot lock the output directory (%s)", dir,
                               strerror(e));
    }
    return FPR_OK;
}

void fpr_dir_unlock(int fd)
{
    if (fd >= 0)
        close(fd);
}
