/* fl_cpu.c: CPU feature detection for the SIMD scanners. */
#include <stdlib.h>
#include <string.h>

#include "fl_cpu.h"

int fl_cpu_simd_best(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx2"))
		return 2;
	if (__builtin_cpu_supports("sse4.2"))
		return 1;
#endif
	return 0;
}

int fl_cpu_simd_requested(void)
{
	const char *v = getenv("FASTLB_SIMD");

	if (!v || !*v)
		return -1;
	if (strcmp(v, "scalar") == 0)
		return 0;
	if (strcmp(v, "sse42") == 0 || strcmp(v, "sse4.2") == 0)
		return 1;
	if (strcmp(v, "avx2") == 0)
		return 2;
	return -1;
}
