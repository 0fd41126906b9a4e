/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The libFuzzer entry point every fuzz/fuzz-*.c target defines; fuzz-main.c
 * replays files through it when the target is built without libFuzzer.
 */
#ifndef CVM_FUZZ_FUZZ_H
#define CVM_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
