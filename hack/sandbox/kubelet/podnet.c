/*
 * podnet.so — gives a process started by the sandbox kubelet the network view of a pod on a shared
 * loopback: every IPv4 socket it binds or connects is tied to the pod's own address (SANDBOX_POD_IP).
 *   - bind(0.0.0.0 or 127.0.0.1) binds the pod IP instead, so `bind *` (Redis' default) does not collide
 *     with the other pods' port 6379;
 *   - connect(127.0.0.1) reaches the pod IP: "localhost" is the pod itself, as in a pod's network namespace;
 *   - an unbound socket that connects is first bound to the pod IP, so peers see the pod's address as the
 *     source (a Redis primary lists its replicas by their pod IPs);
 *   - IPv6 sockets are refused (EAFNOSUPPORT), which Redis treats as "no IPv6 here" for `bind -::*`.
 * Built by the sandbox at start-up with the host's C compiler.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static in_addr_t pod_ip;
static int enabled;

__attribute__((constructor)) static void podnet_init(void) {
  const char *ip = getenv("SANDBOX_POD_IP");
  if (ip != NULL && inet_pton(AF_INET, ip, &pod_ip) == 1) enabled = 1;
}

static int is_loopback_or_any(in_addr_t addr) {
  return addr == htonl(INADDR_ANY) || addr == htonl(INADDR_LOOPBACK);
}

int socket(int domain, int type, int protocol) {
  static int (*real_socket)(int, int, int);
  if (!real_socket) real_socket = dlsym(RTLD_NEXT, "socket");
  if (enabled && domain == AF_INET6) {
    errno = EAFNOSUPPORT;
    return -1;
  }
  return real_socket(domain, type, protocol);
}

int bind(int fd, const struct sockaddr *addr, socklen_t len) {
  static int (*real_bind)(int, const struct sockaddr *, socklen_t);
  if (!real_bind) real_bind = dlsym(RTLD_NEXT, "bind");
  if (enabled && addr != NULL && addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
    struct sockaddr_in copy;
    memcpy(&copy, addr, sizeof copy);
    if (is_loopback_or_any(copy.sin_addr.s_addr)) copy.sin_addr.s_addr = pod_ip;
    return real_bind(fd, (struct sockaddr *)&copy, sizeof copy);
  }
  return real_bind(fd, addr, len);
}

int connect(int fd, const struct sockaddr *addr, socklen_t len) {
  static int (*real_connect)(int, const struct sockaddr *, socklen_t);
  static int (*real_bind)(int, const struct sockaddr *, socklen_t);
  if (!real_connect) real_connect = dlsym(RTLD_NEXT, "connect");
  if (!real_bind) real_bind = dlsym(RTLD_NEXT, "bind");
  if (enabled && addr != NULL && addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
    struct sockaddr_in copy;
    memcpy(&copy, addr, sizeof copy);
    if (copy.sin_addr.s_addr == htonl(INADDR_LOOPBACK)) copy.sin_addr.s_addr = pod_ip;
    struct sockaddr_in local;
    socklen_t local_len = sizeof local;
    if (getsockname(fd, (struct sockaddr *)&local, &local_len) == 0 && local.sin_family == AF_INET &&
        local.sin_port == 0 && local.sin_addr.s_addr == htonl(INADDR_ANY)) {
      struct sockaddr_in source;
      memset(&source, 0, sizeof source);
      source.sin_family = AF_INET;
      source.sin_addr.s_addr = pod_ip;
      real_bind(fd, (struct sockaddr *)&source, sizeof source); /* best effort */
    }
    return real_connect(fd, (struct sockaddr *)&copy, sizeof copy);
  }
  return real_connect(fd, addr, len);
}
