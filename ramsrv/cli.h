/* SPDX-License-Identifier: GPL-2.0 */
/* ramsrv: the command line's shared helpers and commands. */
#ifndef RAMSRV_CLI_H
#define RAMSRV_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EXIT_USAGE 2

struct rs_dev;
struct rs_ent;
struct rs_state;

/* ---- options, usage, device lookup (cli.c) ---- */
extern const char usage_text[];
void usage_err(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void bad_opt(int argc, char **argv, int optopt_c);
unsigned int opt_uint(const char *name, const char *v, unsigned long max);
uint64_t opt_size(const char *name, const char *v);
int opt_auto_on_off(const char *name, const char *v);
const char *default_ctrl(void);
bool pid_alive(int pid);
void opt_ctrl(char *dst, size_t len, const char *v);
int find_dev(const char *ctrl, int id, struct rs_ent *out);
int open_dev(const char *ctrl, int id, struct rs_ent *e, struct rs_state **st);

/* ---- server launch (daemon.c) ---- */
int launch(struct rs_dev *dev);

/* ---- commands ---- */
int cmd_add(int argc, char **argv);		/* add.c */
int cmd_del(int argc, char **argv);		/* del.c */
int cmd_list(int argc, char **argv);		/* show.c */
int cmd_stats(int argc, char **argv);		/* show.c */
int cmd_features(int argc, char **argv);	/* show.c */
int cmd_recover(int argc, char **argv);	/* recover.c */

#endif
