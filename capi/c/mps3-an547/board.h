/* What the start-up code gives the firmware: printing and exiting over semihosting. */
#ifndef BOARD_H
#define BOARD_H

/* Writes a NUL-terminated string to the debugger's (QEMU's) stdout. */
void semihost_write(const char *text);
/* Ends the program; QEMU exits with `code`. */
void semihost_exit(int code) __attribute__((noreturn));

#endif
