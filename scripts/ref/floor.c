// The floor for scripts/bench/: the least work an epoll server can do per request on this
// kernel. One read() and one write() of a precomputed response per batch of requests, no
// parsing beyond counting the requests a read holds. A reference, not a server: it assumes each
// read holds whole requests and each write is taken whole (true for wrk on loopback).
//
// Build: cc -O2 -o floor floor.c      Run: ./floor PORT RESPONSE_FILE
// RESPONSE_FILE holds the exact bytes of one response (head and body). Prints its URL.
#define _GNU_SOURCE /* memmem */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_PIPELINED 64 /* responses written for one read at most */

int main(int argc, char **argv) {
  if (argc != 3) return fprintf(stderr, "usage: floor PORT RESPONSE_FILE\n"), 2;
  static char response[1 << 16], in[1 << 16], out[MAX_PIPELINED << 16];
  FILE *f = fopen(argv[2], "rb");
  if (!f) return perror(argv[2]), 1;
  size_t length = fread(response, 1, sizeof response, f);
  fclose(f);
  for (int i = 0; i < MAX_PIPELINED; i++) memcpy(out + i * length, response, length);

  int one = 1, ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(ls, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* inherited by accepted sockets */
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t addrlen = sizeof addr;
  if (bind(ls, (struct sockaddr *)&addr, sizeof addr) || listen(ls, 4096)) return perror("listen"), 1;
  getsockname(ls, (struct sockaddr *)&addr, &addrlen);
  printf("listening on http://127.0.0.1:%d/\n", ntohs(addr.sin_port));
  fflush(stdout);

  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls}, events[64];
  epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
  for (;;) {
    int n = epoll_wait(ep, events, 64, -1);
    for (int i = 0; i < n; i++) {
      int fd = events[i].data.fd;
      if (fd == ls) {
        for (int c; (c = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0;) {
          ev.data.fd = c;
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
        }
        continue;
      }
      ssize_t r = read(fd, in, sizeof in);
      if (r <= 0) {
        if (r < 0 && errno == EAGAIN) continue;
        close(fd); /* EOF or error; close() also leaves the epoll set */
        continue;
      }
      int requests = 0, closing = 0;
      for (char *p = in; (p = memmem(p, in + r - p, "\r\n\r\n", 4)); p += 4) requests++;
      if (requests > MAX_PIPELINED) requests = MAX_PIPELINED;
      if (memmem(in, r, "Connection: close", 17)) closing = 1;
      if (requests > 0 && write(fd, out, requests * length) < 0 && errno != EAGAIN) closing = 1;
      if (closing) close(fd);
    }
  }
}
