/* Listeners for scripts/bench.sh: bind ADDR:PORT for every port given, accept and close.
 *
 * A C epoll loop instead of Python so that the listener is never the bottleneck: posture
 * probes every open port (banner, TLS, HTTP), and a slow accept loop would measure the
 * listener, not the scanner. Accepting matters: a connection stays in the listen backlog until
 * accepted, and a full backlog drops SYNs (the port would look filtered).
 *
 * usage: listen ADDR PORT[,PORT...]   (prints "ready" once every port listens)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s ADDR PORT[,PORT...]\n", argv[0]);
        return 2;
    }
    int ep = epoll_create1(0);
    char *ports = strdup(argv[2]);
    for (char *p = strtok(ports, ","); p; p = strtok(NULL, ",")) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(p))};
        inet_pton(AF_INET, argv[1], &a.sin_addr);
        if (bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 4096)) {
            perror(p);
            return 1;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    printf("ready\n");
    fflush(stdout);
    struct epoll_event evs[64];
    for (;;) {
        int n = epoll_wait(ep, evs, 64, -1);
        for (int i = 0; i < n; i++) {
            int c;
            while ((c = accept4(evs[i].data.fd, NULL, NULL, SOCK_NONBLOCK)) >= 0) close(c);
        }
    }
}
