// SPDX-License-Identifier: GPL-2.0
/* ramsrv: run the server in the foreground or as a daemon. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include "ramsrv.h"
#include "cli.h"

/*
 * Run the server for @dev: in the foreground, or forked into the background
 * once it reports the device live (or its one-line error) through a pipe.
 */
int launch(struct rs_dev *dev)
{
	struct rs_opts *o = &dev->opts;
	char buf[600];
	int pfd[2], status;
	pid_t pid;
	ssize_t n, got = 0;

	if (o->foreground)
		return rs_serve(dev, -1) < 0 ? 1 : 0;

	if (pipe2(pfd, O_CLOEXEC) < 0) {
		perror("ramsrv: pipe");
		return 1;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		perror("ramsrv: fork");
		return 1;
	}
	if (pid == 0) {
		int nul = open("/dev/null", O_RDWR);

		close(pfd[0]);
		setsid();
		if (chdir("/") < 0)
			_exit(1);
		if (nul >= 0) {
			dup2(nul, STDIN_FILENO);
			dup2(nul, STDOUT_FILENO);
			close(nul);
		}
		rs_quiet = true;	/* errors travel through the pipe */
		_exit(rs_serve(dev, pfd[1]) < 0 ? 1 : 0);
	}
	close(pfd[1]);
	while (got < (ssize_t)sizeof(buf) - 1) {
		n = read(pfd[0], buf + got, sizeof(buf) - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += n;
		if (memchr(buf, '\n', (size_t)got))
			break;
	}
	close(pfd[0]);
	buf[got] = '\0';
	if (!strncmp(buf, "OK ", 3)) {
		fputs(buf + 3, stdout);
		return 0;
	}
	waitpid(pid, &status, 0);
	if (!strncmp(buf, "E ", 2)) {
		fprintf(stderr, "ramsrv: %s", buf + 2);
		if (!strchr(buf, '\n'))
			fputc('\n', stderr);
	} else {
		fprintf(stderr, "ramsrv: server exited during setup (status %d)\n",
			status);
	}
	return 1;
}
