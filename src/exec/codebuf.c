/*
 * codebuf.c - the host code cache's memory: never writable and executable
 * at the same address.
 *
 * One memfd is mapped twice: a read-write view the emitter writes through
 * and a read-execute view the CPU runs, each page of it only ever mapped
 * with those rights.  Where memfd_create() is refused (a seccomp filter, an
 * old kernel) one anonymous mapping flips between read-write while the
 * emitter writes and read-execute while code runs (cb_begin / cb_end).
 * The execute view is placed near the program's text when the kernel
 * allows, so that calls to the handlers fit in a rel32.
 *
 * The buffer is a bump allocator: when it is full the caller drops every
 * block's code (jit.c) and cb_reset() starts again from the bottom.
 */
#include "jit.h"

#if FB_JIT_HOST

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Try to map @size bytes within 1 GiB below or above the text. */
static void *map_near(size_t size, int prot, int flags, int fd)
{
	uintptr_t text = (uintptr_t)&cb_init & ~(uintptr_t)0xfffff;
	static const intptr_t tries[] = {-(1l << 29), 1l << 29, -(1l << 30), 1l << 30};

	for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
		void *hint = (void *)(text + (uintptr_t)tries[i]);
		void *p = mmap(hint, size, prot, flags, fd, 0);

		if (p == MAP_FAILED)
			continue;
		intptr_t d = (intptr_t)((uintptr_t)p - text);

		if (d > -(1l << 31) + (intptr_t)size && d < (1l << 31) - (intptr_t)size)
			return p;
		munmap(p, size);
	}
	void *p = mmap(NULL, size, prot, flags, fd, 0);

	return p == MAP_FAILED ? NULL : p;
}

bool cb_init(CodeBuf *cb, size_t size)
{
	size = (size + 4095) & ~(size_t)4095;
	*cb = (CodeBuf){0};
	cb->size = size;
	int fd = memfd_create("flashback-jit", MFD_CLOEXEC);

	if (fd >= 0 && ftruncate(fd, (off_t)size) == 0) {
		cb->rx = map_near(size, PROT_READ | PROT_EXEC, MAP_SHARED, fd);
		cb->rw = cb->rx ? mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
				: MAP_FAILED;
		close(fd);
		if (cb->rx && cb->rw != MAP_FAILED) {
			cb->dual = true;
			return true;
		}
		if (cb->rx)
			munmap(cb->rx, size);
		cb->rx = NULL;
		cb->rw = NULL;
	} else if (fd >= 0) {
		close(fd);
	}
	/* one mapping whose rights flip */
	cb->rx = map_near(size, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1);
	cb->rw = cb->rx;
	return cb->rx != NULL;
}

void cb_free(CodeBuf *cb)
{
	if (cb->rx)
		munmap(cb->rx, cb->size);
	if (cb->dual && cb->rw)
		munmap(cb->rw, cb->size);
	*cb = (CodeBuf){0};
}

void cb_reset(CodeBuf *cb)
{
	cb->used = 0;
}

/* Open the buffer for writing (only the flipping kind needs to do anything). */
void cb_begin(CodeBuf *cb)
{
	if (!cb->dual && mprotect(cb->rx, cb->size, PROT_READ | PROT_WRITE) != 0)
		fatal(EXIT_INTERNAL, "jit: mprotect: %s", strerror(errno));
}

void cb_end(CodeBuf *cb)
{
	if (!cb->dual && mprotect(cb->rx, cb->size, PROT_READ | PROT_EXEC) != 0)
		fatal(EXIT_INTERNAL, "jit: mprotect: %s", strerror(errno));
}

#endif
