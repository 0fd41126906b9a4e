/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * cvm-agent: global options, configuration, and dispatch to one subcommand.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "common/http.h"
#include "common/json.h"
#include "common/log.h"
#include "common/secbuf.h"
#include "common/timing.h"
#include "tpm/tpm.h"

/* The command table, sorted; a command is listed only once it works. */
static const AgentCommand commands[] = {
    {"attest", "attest this VM to Microsoft Azure Attestation, print the token", cmd_attest,
     attest_usage},
    {"boot", "open the [secret NAME]s of agent.conf and deliver them (systemd)", cmd_boot,
     boot_usage},
    {"evidence", "collect this VM's attestation evidence (reports, TPM quote, keys)", cmd_evidence,
     evidence_usage},
    {"release", "release a Key Vault / Managed HSM key into this VM", cmd_release, release_usage},
    {"report", "obtain and print this VM's hardware report", cmd_report, report_usage},
    {"rotate", "move secrets to the newest version of the customer-managed key", cmd_rotate,
     rotate_usage},
    {"seal", "create a secret bound to this vTPM and the customer-managed key", cmd_seal,
     seal_usage},
    {"status", "show the secrets' key versions and approvals", cmd_status, status_usage},
    {"unseal", "open a secret (attest, release its key version, unseal)", cmd_unseal, unseal_usage},
    {"verify", "verify evidence from files", cmd_verify, verify_usage},
    {NULL, NULL, NULL, NULL}, /* sentinel */
};

static const AgentCommand *find_command(const char *name) {
    for (const AgentCommand *c = commands; c->name; c++)
        if (streq(c->name, name))
            return c;
    return NULL;
}

static void usage(FILE *f) {
    fprintf(f, "Usage: cvm-agent [OPTIONS] COMMAND [COMMAND OPTIONS]\n"
               "\n"
               "Attestation and key-release agent for confidential VMs.\n"
               "\n"
               "Options:\n"
               "  -c, --config FILE      configuration file (default " AGENT_DEFAULT_CONFIG ",\n"
               "                         or $CVM_AGENT_CONFIG)\n"
               "  -T, --tcti TCTI        TPM TCTI string (default " AGENT_DEFAULT_TCTI ",\n"
               "                         or $CVM_AGENT_TCTI)\n"
               "      --state-dir DIR    state directory (default " AGENT_DEFAULT_STATE_DIR ")\n"
               "  -o SECTION.KEY=VALUE   override a configuration key (repeatable)\n"
               "  -v, --verbose          more messages (repeatable)\n"
               "  -q, --quiet            errors only\n"
               "      --log-level LEVEL  error, warning, notice, info or debug\n"
               "      --timings          print wall, CPU, TPM and endpoint time at the end\n"
               "  -h, --help [COMMAND]   this help, or a command's\n"
               "      --version          print the version\n"
               "\n"
               "Commands:\n");
    for (const AgentCommand *c = commands; c->name; c++)
        fprintf(f, "  %-10s %s\n", c->name, c->summary);
    fprintf(f, "\n"
               "Exit status: 0 success, 1 check failed, 2 usage or configuration error,\n"
               "3 transient failure (try later), 4 local platform failure.\n"
               "See cvm-agent(8) and cvm-agent.conf(5).\n");
}

static int help_for(const char *name) {
    const AgentCommand *c = find_command(name);
    if (!c) {
        log_error("unknown command '%s'; see 'cvm-agent --help'", name);
        return CVM_EXIT_USAGE;
    }
    c->usage(stdout);
    return CVM_EXIT_OK;
}

static void context_done(AgentContext *ctx) {
    agent_config_done(&ctx->cfg);
}

/* The global options, as given. */
typedef struct GlobalOptions {
    const char *config_path, *tcti, *state_dir, *log_level;
    const char **overrides; /* -o, NULL-terminated */
    int verbosity;          /* -1 quiet, 0 default, >0 verbose */
    bool help, timings;
} GlobalOptions;

/* 0 to go on, 1 when done (--version), or a CvmExit > 1 (logged). */
static int parse_global_options(int argc, char **argv, GlobalOptions *g) {
    enum { OPT_STATE_DIR = 0x100, OPT_LOG_LEVEL, OPT_VERSION, OPT_TIMINGS };
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"tcti", required_argument, NULL, 'T'},
        {"state-dir", required_argument, NULL, OPT_STATE_DIR},
        {"verbose", no_argument, NULL, 'v'},
        {"quiet", no_argument, NULL, 'q'},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {"timings", no_argument, NULL, OPT_TIMINGS},
        {NULL, 0, NULL, 0},
    };
    size_t n_overrides = 0;
    int c;
    /* '+': stop at the command name; its options are its own */
    while ((c = getopt_long(argc, argv, "+c:T:o:vqh", options, NULL)) != -1) {
        switch (c) {
        case 'c': g->config_path = optarg; break;
        case 'T': g->tcti = optarg; break;
        case OPT_STATE_DIR: g->state_dir = optarg; break;
        case 'o': g->overrides[n_overrides++] = optarg; break;
        case 'v': g->verbosity++; break;
        case 'q': g->verbosity = -1; break;
        case OPT_LOG_LEVEL: g->log_level = optarg; break;
        case OPT_TIMINGS: g->timings = true; break;
        case 'h': g->help = true; break;
        case OPT_VERSION: printf("cvm-agent %s\n", PACKAGE_VERSION); return 1;
        default: /* getopt named the bad option */
            fprintf(stderr, "see 'cvm-agent --help'\n");
            return CVM_EXIT_USAGE;
        }
    }
    return 0;
}

/* Configuration: defaults < file < environment < command line. A CvmExit. */
static int configure(AgentContext *ctx, const GlobalOptions *g) {
    const char *config_path = g->config_path, *tcti = g->tcti;
    if (!config_path)
        config_path = secure_getenv("CVM_AGENT_CONFIG");
    bool explicit_config = config_path != NULL;
    if (!config_path)
        config_path = AGENT_DEFAULT_CONFIG;
    int r = agent_config_load(&ctx->cfg, config_path);
    if (r == -ENOENT && !explicit_config)
        r = 0; /* no config file: defaults */
    else if (r == -ENOENT || r == -EACCES)
        return log_error_errno(r, "cannot open configuration '%s': %m", config_path),
               CVM_EXIT_USAGE;
    else if (r < 0)
        return CVM_EXIT_USAGE; /* the loader named file:line */
    else
        ctx->config_path = config_path;

    const char *env_tcti = secure_getenv("CVM_AGENT_TCTI");
    if (env_tcti && *env_tcti && !tcti)
        tcti = env_tcti;
    for (const char **o = g->overrides; *o; o++)
        if (agent_config_set(&ctx->cfg, *o) < 0)
            return CVM_EXIT_USAGE;
    if (tcti) {
        free(ctx->cfg.tcti);
        ctx->cfg.tcti = strdup(tcti);
    }
    if (g->timings)
        ctx->cfg.timings = true;
    if (g->state_dir) {
        free(ctx->cfg.state_dir);
        ctx->cfg.state_dir = strdup(g->state_dir);
    }
    if (!ctx->cfg.tcti)
        ctx->cfg.tcti = strdup(AGENT_DEFAULT_TCTI);
    if (!ctx->cfg.state_dir)
        ctx->cfg.state_dir = strdup(AGENT_DEFAULT_STATE_DIR);
    if (!ctx->cfg.tcti || !ctx->cfg.state_dir)
        return log_error_errno(-ENOMEM, "out of memory"), CVM_EXIT_PLATFORM;
    tpm_set_busy_timeout(ctx->cfg.tpm_busy_timeout_ms > UINT_MAX
                             ? UINT_MAX
                             : (unsigned)ctx->cfg.tpm_busy_timeout_ms);
    return CVM_EXIT_OK;
}

static int set_log_level(const AgentContext *ctx, const GlobalOptions *g) {
    if (g->log_level || ctx->cfg.log_level) {
        const char *l = g->log_level ? g->log_level : ctx->cfg.log_level;
        int level = log_level_from_string(l);
        if (level < 0)
            return log_error("unknown log level '%s'", l), CVM_EXIT_USAGE;
        log_set_max_level(level);
    }
    if (g->verbosity < 0)
        log_set_max_level(LOG_ERR);
    else if (g->verbosity > 0)
        log_set_max_level(log_get_max_level() + g->verbosity);
    return CVM_EXIT_OK;
}

/* The command named at argv[optind] (help handled); NULL with *rc set. */
static const AgentCommand *pick_command(int argc, char **argv, const GlobalOptions *g, int *rc) {
    *rc = CVM_EXIT_OK;
    if (g->help || (optind < argc && streq(argv[optind], "help"))) {
        int next = g->help ? optind : optind + 1;
        if (next < argc)
            *rc = help_for(argv[next]);
        else
            usage(stdout);
        return NULL;
    }
    if (optind >= argc) {
        usage(stderr);
        log_error("no command given");
        *rc = CVM_EXIT_USAGE;
        return NULL;
    }
    const AgentCommand *cmd = find_command(argv[optind]);
    if (!cmd) {
        log_error("unknown command '%s'; see 'cvm-agent --help'", argv[optind]);
        *rc = CVM_EXIT_USAGE;
    }
    return cmd;
}

static int run(int argc, char **argv) {
    _cleanup_(context_done) AgentContext ctx = {0};
    _cleanup_free_ const char **overrides = calloc((size_t)argc + 1, sizeof(char *));
    GlobalOptions g = {.overrides = overrides};
    int rc;

    if (!overrides)
        return log_error_errno(-ENOMEM, "out of memory"), CVM_EXIT_PLATFORM;
    agent_config_init(&ctx.cfg);
    rc = parse_global_options(argc, argv, &g);
    if (rc != 0)
        return rc == 1 ? CVM_EXIT_OK : rc;
    const AgentCommand *cmd = pick_command(argc, argv, &g, &rc);
    if (!cmd)
        return rc;
    if ((rc = configure(&ctx, &g)) != CVM_EXIT_OK || (rc = set_log_level(&ctx, &g)) != CVM_EXIT_OK)
        return rc;
    /* anchors from [trust] are announced by the command that uses them */

    /* the command parses its own options from argv[optind] on */
    int cmd_argc = argc - optind;
    char **cmd_argv = argv + optind;
    optind = 0; /* GNU getopt: full reinitialisation for the command's parse */
    agent_output_set_timings(ctx.cfg.timings);
    rc = cmd->run(&ctx, cmd_argc, cmd_argv);
    if (ctx.cfg.timings)
        agent_timings_print();
    return rc;
}

int main(int argc, char **argv) {
    timing_start();
    log_open();
    json_init();
    int r = process_harden();
    if (r < 0)
        log_warning_errno(r, "cannot make the process non-dumpable, continuing: %m");
    r = run(argc, argv);
    http_cleanup();
    if (fflush(stdout) != 0 && r == CVM_EXIT_OK)
        r = CVM_EXIT_PLATFORM;
    return r;
}
