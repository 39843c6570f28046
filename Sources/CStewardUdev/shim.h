#ifndef C_STEWARD_UDEV_SHIM_H
#define C_STEWARD_UDEV_SHIM_H

// libudev. Nothing but StewardDevice imports this module.
#include <libudev.h>

#endif
