/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: the configuration file loader (agent/config.c, libinih) on the
 * input as agent.conf (through a memfd, since it reads a path), then each
 * line of the input as a `-o section.key=value` assignment.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "agent/agent.h"
#include "fuzz/fuzz.h"

static int load(const uint8_t *data, size_t size, AgentConfig *cfg) {
    char path[64];
    int fd = memfd_create("fuzz-agent.conf", MFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (size > 0 && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return -EIO;
    }
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    int r = agent_config_load(cfg, path);
    close(fd);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    AgentConfig cfg;
    agent_config_init(&cfg);
    int r = load(data, size, &cfg);
    if (r < 0 && r != -EINVAL && r != -ENOMEM && r != -EIO)
        abort();
    agent_config_done(&cfg);

    agent_config_init(&cfg);
    for (size_t i = 0; i < size;) {
        const uint8_t *nl = memchr(data + i, '\n', size - i);
        size_t len = nl ? (size_t)(nl - (data + i)) : size - i;
        char *line = strndup((const char *)data + i, len);
        if (line)
            (void)agent_config_set(&cfg, line);
        free(line);
        i += len + 1;
    }
    agent_config_done(&cfg);
    return 0;
}
