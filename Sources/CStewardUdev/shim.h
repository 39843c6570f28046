#ifndef C_STEWARD_UDEV_SHIM_H
#define C_STEWARD_UDEV_SHIM_H

// libudev, and the one Linux ioctl StewardDevice needs that Swift cannot call directly
// (ioctl is variadic). Nothing but StewardDevice imports this module.
#include <libudev.h>
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <net/if.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>

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

#endif
