/*
 * Start-up of the C firmware for QEMU mps3-an547 (Arm Corstone-300, Cortex-M55): vector table,
 * reset handler (FPU on, .data copied, .bss zeroed), fault handler, and the semihosting calls
 * the firmware prints and exits with.
 */
#include <stdint.h>

#include "board.h"

extern uint32_t __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[];
extern uint32_t __stack_top[];
int main(void);

void reset_handler(void);
static void fault_handler(void) { semihost_exit(0xFA); }

/* Initial stack pointer, reset, then the 14 system exceptions (NMI ... SysTick). */
__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))__stack_top, reset_handler, fault_handler, fault_handler, fault_handler,
    fault_handler, fault_handler, fault_handler, 0, 0, 0, fault_handler, fault_handler, 0,
    fault_handler, fault_handler,
};

void reset_handler(void) {
    /* CPACR: full access to CP10/CP11 (the FPU); the Rust library is built for eabihf. */
    volatile uint32_t *cpacr = (volatile uint32_t *)0xE000ED88u;
    *cpacr |= 0xFu << 20;
    __asm volatile("dsb\n\tisb" ::: "memory");
    for (uint32_t *src = __data_load, *dst = __data_start; dst < __data_end;) *dst++ = *src++;
    for (uint32_t *dst = __bss_start; dst < __bss_end;) *dst++ = 0;
    semihost_exit(main());
}

/* Arm semihosting: operation in r0, argument in r1, `bkpt 0xAB` on M-profile. */
static uint32_t semihost(uint32_t op, const void *arg) {
    register uint32_t r0 __asm("r0") = op;
    register const void *r1 __asm("r1") = arg;
    __asm volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void semihost_write(const char *text) { semihost(0x04 /* SYS_WRITE0 */, text); }

void semihost_exit(int code) {
    /* SYS_EXIT_EXTENDED: ADP_Stopped_ApplicationExit with the exit code (QEMU's status). */
    const uint32_t block[2] = {0x20026u, (uint32_t)code};
    semihost(0x20, block);
    for (;;) {
    }
}
