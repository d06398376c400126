/* fl_cpu.h: which SIMD instruction sets this CPU has, and the FASTLB_SIMD override.
 *
 * Levels are ordered: 0 scalar, 1 SSE4.2, 2 AVX2 (see enum fl_http_simd). On non-x86 machines
 * only the scalar level exists.
 */
#ifndef FL_CPU_H
#define FL_CPU_H

/* Best level the CPU supports (CPUID through __builtin_cpu_supports). */
int fl_cpu_simd_best(void);

/* Level requested by the environment variable FASTLB_SIMD (scalar|sse42|sse4.2|avx2), or -1
 * when it is unset or unknown. */
int fl_cpu_simd_requested(void);

#endif /* FL_CPU_H */
