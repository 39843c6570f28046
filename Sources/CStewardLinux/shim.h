#ifndef STEWARD_LINUX_SHIM_H
#define STEWARD_LINUX_SHIM_H

// Linux and CPU interfaces that Swift cannot call directly, in the manner of swift-nio's
// CNIOLinux: a variadic ioctl (ethtool), a netlink socket (link and route events) and a CPU
// instruction (CRC-32C). Header only, no
// library to link. Nothing but StewardCore imports this module; StewardDevice reaches the
// ioctl through StewardCore's `LinuxNetwork`.
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <net/if.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/eventfd.h>
#include <unistd.h>

// MARK: - CRC-32C

// CRC-32C (Castagnoli) with the SSE 4.2 instruction, for the vault's frame checksums: about
// ten times the table-driven Swift version. The caller checks steward_crc32c_hw_available()
// first (the Swift tables serve other CPUs). `crc` is the raw register: no inversion here.
#if defined(__x86_64__)
__attribute__((target("sse4.2")))
static inline uint32_t steward_crc32c_hw(uint32_t crc, const void *data, size_t count) {
    const unsigned char *p = (const unsigned char *)data;
    unsigned long long c = crc;
    while (count >= 8) {
        unsigned long long word;
        memcpy(&word, p, 8);
        c = __builtin_ia32_crc32di(c, word);
        p += 8;
        count -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (count > 0) {
        c32 = __builtin_ia32_crc32qi(c32, *p);
        p++;
        count--;
    }
    return c32;
}
static inline int steward_crc32c_hw_available(void) { return __builtin_cpu_supports("sse4.2"); }
#else
static inline uint32_t steward_crc32c_hw(uint32_t crc, const void *data, size_t count) {
    (void)data; (void)count; return crc;
}
static inline int steward_crc32c_hw_available(void) { return 0; }
#endif

// MARK: - ethtool

/// Reads the permanent hardware address of `ifname` with ETHTOOL_GPERMADDR (no privilege
/// needed). `fd` is any socket. Writes up to `capacity` bytes into `out` and returns the
/// address length, or -errno on failure.
static inline int steward_permanent_address(int fd, const char *ifname, unsigned char *out, int capacity) {
    struct {
        struct ethtool_perm_addr header;
        unsigned char data[32];
    } request;
    struct ifreq ifr;
    memset(&request, 0, sizeof(request));
    memset(&ifr, 0, sizeof(ifr));
    request.header.cmd = ETHTOOL_GPERMADDR;
    request.header.size = sizeof(request.data);
    strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
    ifr.ifr_data = (void *)&request;
    if (ioctl(fd, SIOCETHTOOL, &ifr) != 0) return -errno;
    int length = (int)request.header.size;
    if (length > capacity) length = capacity;
    if (length > 32) length = 32;
    memcpy(out, request.data, (size_t)length);
    return length;
}

// MARK: - netlink

/// Opens a non-blocking, close-on-exec NETLINK_ROUTE socket subscribed to the kernel's link,
/// address and route events (IPv4 and IPv6): readable whenever an interface goes up or down,
/// gains or loses an address, or a route changes. Returns the descriptor, or -errno.
static inline int steward_netlink_route_events(void) {
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) return -errno;
    struct sockaddr_nl address;
    memset(&address, 0, sizeof(address));
    address.nl_family = AF_NETLINK;
    address.nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_IPV4_ROUTE |
                        RTMGRP_IPV6_ROUTE;
    if (bind(fd, (struct sockaddr *)&address, sizeof(address)) != 0) {
        int saved = errno;
        close(fd);
        return -saved;
    }
    return fd;
}

#endif
