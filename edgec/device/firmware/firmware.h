/* The test harness's view of edgec's bare-metal start-up (startup.c). */
#ifndef EDGEC_FIRMWARE_H_
#define EDGEC_FIRMWARE_H_
#include <stdint.h>

void edgec_fw_exit(int code);
int edgec_fw_open(const char *name, int write);
int edgec_fw_read(int fd, void *data, uint32_t bytes);
int edgec_fw_write(int fd, const void *data, uint32_t bytes);
void edgec_fw_close(int fd);
void edgec_fw_print(const char *text);
void edgec_fw_ticks_start(void);
uint64_t edgec_fw_ticks(void);
#endif
