/* connect_loop.c: the "kernel limit" baseline for scripts/bench.sh.
 *
 * A plain epoll TCP connect() sweep: one thread per core, each owning a contiguous slice of
 * the (host, port) index space, a fixed number of non-blocking connects in flight per thread,
 * SO_LINGER 0 on connects that succeed (no TIME_WAIT), self-connects counted as closed.
 * It does nothing a real scanner could skip, so its wall time is what the kernel allows.
 *
 * usage: connect_loop FIRST_IPV4 HOST_COUNT PORTS WINDOW_PER_THREAD THREADS TIMEOUT_MS
 *   PORTS = "all" (1-65535) or a comma-separated list.
 * prints one "ip:port" line per open port on stdout, totals on stderr.
 * build: gcc -O2 -pthread -o connect_loop connect_loop.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint32_t first_ip;
static uint64_t host_count;
static uint16_t *ports;
static uint64_t port_count;
static int window_per_thread;
static int timeout_ms;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

struct slot { int fd; uint32_t ip; uint16_t port; int64_t deadline_ms; };
struct range { uint64_t start, end; uint64_t open, closed, filtered; };

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void finish(struct range *r, struct slot *s, int verdict) {
    if (verdict == 0) {
        struct in_addr a = { htonl(s->ip) };
        pthread_mutex_lock(&out_lock);
        printf("%s:%u\n", inet_ntoa(a), s->port);
        pthread_mutex_unlock(&out_lock);
        r->open++;
    } else if (verdict == 1) {
        r->closed++;
    } else {
        r->filtered++;
    }
    close(s->fd);
    s->fd = -1;
}

static void *worker(void *arg) {
    struct range *r = arg;
    int ep = epoll_create1(0);
    struct slot *slots = calloc(window_per_thread, sizeof *slots);
    struct epoll_event *evs = calloc(window_per_thread, sizeof *evs);
    int *free_list = calloc(window_per_thread, sizeof *free_list);
    int nfree = window_per_thread, inflight = 0;
    for (int i = 0; i < window_per_thread; i++) { free_list[i] = i; slots[i].fd = -1; }
    uint64_t next = r->start;
    for (;;) {
        while (nfree > 0 && next < r->end) {
            uint64_t h = next / port_count, p = next % port_count;
            next++;
            int i = free_list[--nfree];
            struct slot *s = &slots[i];
            s->ip = first_ip + (uint32_t)h;
            s->port = ports[p];
            s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (s->fd < 0) { perror("socket"); exit(1); }
            struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(s->port),
                                      .sin_addr = { htonl(s->ip) } };
            s->deadline_ms = now_ms() + timeout_ms;
            if (connect(s->fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) {
                finish(r, s, errno == ECONNREFUSED ? 1 : 2);
                free_list[nfree++] = i;
                continue;
            }
            struct epoll_event ev = { .events = EPOLLOUT | EPOLLET, .data.u32 = (uint32_t)i };
            epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev);
            inflight++;
        }
        if (inflight == 0 && next >= r->end) break;
        int n = epoll_wait(ep, evs, window_per_thread, 10);
        for (int k = 0; k < n; k++) {
            int i = (int)evs[k].data.u32;
            struct slot *s = &slots[i];
            int err = 0; socklen_t len = sizeof err;
            getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
            int verdict;
            if (err == 0) {
                struct sockaddr_in local, peer; socklen_t ll = sizeof local, pl = sizeof peer;
                getsockname(s->fd, (struct sockaddr *)&local, &ll);
                getpeername(s->fd, (struct sockaddr *)&peer, &pl);
                if (local.sin_port == peer.sin_port && local.sin_addr.s_addr == peer.sin_addr.s_addr) {
                    verdict = 1; /* self-connect: nothing listens there */
                } else {
                    struct linger lg = { 1, 0 };
                    setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
                    verdict = 0;
                }
            } else {
                verdict = err == ECONNREFUSED ? 1 : 2;
            }
            finish(r, s, verdict);
            free_list[nfree++] = i;
            inflight--;
        }
        int64_t t = now_ms();
        for (int i = 0; i < window_per_thread; i++) {
            if (slots[i].fd >= 0 && slots[i].deadline_ms <= t) {
                finish(r, &slots[i], 2);
                free_list[nfree++] = i;
                inflight--;
            }
        }
    }
    close(ep);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: %s FIRST_IPV4 HOST_COUNT PORTS WINDOW THREADS TIMEOUT_MS\n", argv[0]);
        return 2;
    }
    struct in_addr a;
    if (inet_aton(argv[1], &a) == 0) { fprintf(stderr, "bad address\n"); return 2; }
    first_ip = ntohl(a.s_addr);
    host_count = strtoull(argv[2], NULL, 10);
    if (strcmp(argv[3], "all") == 0) {
        port_count = 65535;
        ports = malloc(port_count * sizeof *ports);
        for (uint64_t i = 0; i < port_count; i++) ports[i] = (uint16_t)(i + 1);
    } else {
        ports = malloc(65536 * sizeof *ports);
        char *save = NULL;
        for (char *t = strtok_r(argv[3], ",", &save); t; t = strtok_r(NULL, ",", &save))
            ports[port_count++] = (uint16_t)atoi(t);
    }
    window_per_thread = atoi(argv[4]);
    int threads = atoi(argv[5]);
    timeout_ms = atoi(argv[6]);
    uint64_t total = host_count * port_count;
    pthread_t tids[64];
    struct range ranges[64];
    if (threads < 1 || threads > 64 || window_per_thread < 1) { fprintf(stderr, "bad args\n"); return 2; }
    for (int t = 0; t < threads; t++) {
        ranges[t] = (struct range){ total * t / threads, total * (t + 1) / threads, 0, 0, 0 };
        pthread_create(&tids[t], NULL, worker, &ranges[t]);
    }
    uint64_t open = 0, closed = 0, filtered = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(tids[t], NULL);
        open += ranges[t].open; closed += ranges[t].closed; filtered += ranges[t].filtered;
    }
    fprintf(stderr, "scanned %llu: open %llu closed %llu filtered %llu\n",
            (unsigned long long)total, (unsigned long long)open,
            (unsigned long long)closed, (unsigned long long)filtered);
    return 0;
}
