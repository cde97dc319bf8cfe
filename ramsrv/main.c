// SPDX-License-Identifier: GPL-2.0
/* ramsrv: the command line: dispatch to the commands (cli.h). */
#include <stdio.h>
#include <string.h>
#include "ramsrv.h"
#include "cli.h"

int main(int argc, char **argv)
{
	const char *cmd;

	if (argc < 2)
		usage_err("missing command (add, del, list, stats, recover, features)");
	cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		fputs(usage_text, stdout);
		return 0;
	}
	argv++;
	argc--;
	if (!strcmp(cmd, "add"))
		return cmd_add(argc, argv);
	if (!strcmp(cmd, "del"))
		return cmd_del(argc, argv);
	if (!strcmp(cmd, "list"))
		return cmd_list(argc, argv);
	if (!strcmp(cmd, "stats"))
		return cmd_stats(argc, argv);
	if (!strcmp(cmd, "recover"))
		return cmd_recover(argc, argv);
	if (!strcmp(cmd, "features"))
		return cmd_features(argc, argv);
	usage_err("unknown command '%s'", cmd);
}
