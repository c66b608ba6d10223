/* debugports.c - placeholder until the device lands. */
#include "devices.h"
