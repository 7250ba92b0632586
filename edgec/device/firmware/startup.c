/* Bare-metal start-up for edgec's emulated Cortex-M boards: vector table, .data/.bss set-up,
 * FPU enable, a SysTick counter for instruction counts under qemu -icount, and semihosting
 * calls (host file I/O and exit) for the test harness. Not part of a model's artifact. */
#include <stdint.h>
#include <string.h>

#include "firmware.h"

extern uint32_t __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[];
extern uint32_t __stack_top[];
int main(void);

static volatile uint32_t systick_wraps;

static int32_t semihost(int32_t op, void *arg) {
  register int32_t r0 __asm__("r0") = op;
  register void *r1 __asm__("r1") = arg;
  __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

void edgec_fw_exit(int code) {
  uint32_t block[2] = {0x20026u /* ADP_Stopped_ApplicationExit */, (uint32_t)code};
  semihost(0x20 /* SYS_EXIT_EXTENDED */, block);
  for (;;) {
  }
}

int edgec_fw_open(const char *name, int write) {
  uint32_t block[3] = {(uint32_t)name, write ? 6u /* "wb" */ : 1u /* "rb" */,
                       (uint32_t)strlen(name)};
  return semihost(0x01 /* SYS_OPEN */, block);
}

int edgec_fw_read(int fd, void *data, uint32_t bytes) {
  uint32_t block[3] = {(uint32_t)fd, (uint32_t)data, bytes};
  return semihost(0x06 /* SYS_READ: returns the bytes not read */, block);
}

int edgec_fw_write(int fd, const void *data, uint32_t bytes) {
  uint32_t block[3] = {(uint32_t)fd, (uint32_t)data, bytes};
  return semihost(0x05 /* SYS_WRITE: returns the bytes not written */, block);
}

void edgec_fw_close(int fd) {
  uint32_t block[1] = {(uint32_t)fd};
  semihost(0x02 /* SYS_CLOSE */, block);
}

void edgec_fw_print(const char *text) { semihost(0x04 /* SYS_WRITE0 */, (void *)text); }

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define CPACR (*(volatile uint32_t *)0xE000ED88u)

void edgec_fw_ticks_start(void) {
  systick_wraps = 0;
  SYST_RVR = 0x00FFFFFFu;
  SYST_CVR = 0;
  SYST_CSR = 7u; /* processor clock, interrupt on wrap, enabled */
}

uint64_t edgec_fw_ticks(void) {
  uint32_t wraps, value;
  do {
    wraps = systick_wraps;
    value = SYST_CVR;
  } while (wraps != systick_wraps);
  return (uint64_t)wraps * 0x01000000u + (0x00FFFFFFu - value);
}

static void systick_handler(void) { systick_wraps++; }

static void fault_handler(void) {
  edgec_fw_print("edgec firmware: hard fault\n");
  edgec_fw_exit(3);
}

void reset_handler(void) {
  uint32_t *src = __data_load, *dst = __data_start;
  while (dst < __data_end) *dst++ = *src++;
  for (dst = __bss_start; dst < __bss_end;) *dst++ = 0;
#if defined(__ARM_FP)
  CPACR |= 0xFu << 20; /* CP10 and CP11: the FPU */
  __asm__ volatile("dsb\n isb" ::: "memory");
#endif
  edgec_fw_exit(main());
}

typedef void (*handler_t)(void);
__attribute__((section(".vectors"), used)) const handler_t edgec_fw_vectors[16] = {
    (handler_t)__stack_top, reset_handler, fault_handler, fault_handler, fault_handler,
    fault_handler, fault_handler, 0, 0, 0, 0, fault_handler, fault_handler, 0, fault_handler,
    systick_handler,
};
