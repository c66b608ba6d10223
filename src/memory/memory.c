/* memory.c - placeholder. */
#include "memory.h"
