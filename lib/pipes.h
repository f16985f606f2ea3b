/*
 * pipes.h - reading what a pipe or FIFO holds without taking it out, shared
 * by cs-dump (saving the unread bytes) and cs-restore (checking a FIFO that
 * another process kept open before refilling it).
 */
#ifndef CS_PIPES_H
#define CS_PIPES_H

#include <stddef.h>
#include <stdint.h>

/*
 * pipe_peek - copy the bytes queued in the pipe or FIFO that fd reads from,
 * leaving them queued. fd must be open for reading on the pipe (any of its
 * open file descriptions: the data belongs to the pipe object, not to the
 * file description); it is not changed (tee(2) with SPLICE_F_NONBLOCK does
 * not consume, and does not block even when fd is blocking).
 *
 * The copy goes through a temporary pipe made as large as fd's pipe
 * (F_GETPIPE_SZ, fcntl(2), Linux 2.6.35), so one tee(2) takes everything.
 *
 * On success returns 0, *buf is a malloc'ed copy of *len bytes (NULL and 0
 * when the pipe is empty) and *size (when size is not NULL) the capacity of
 * the pipe in bytes. Returns -1 with errno set (nothing allocated) when the
 * pipe size cannot be read or matched, tee fails, or memory runs out.
 * Kernel facts: tee(2), "tee() duplicates up to len bytes of data from the
 * pipe referred to by fd_in to the pipe referred to by fd_out. It does not
 * consume the data that is duplicated from fd_in" (fs/splice.c, link_pipe).
 */
int pipe_peek(int fd, void **buf, size_t *len, int *size);

#endif /* CS_PIPES_H */
