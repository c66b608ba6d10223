/* physmem.c - placeholder. */
#include "memory.h"
