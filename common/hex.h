/* Hexadecimal digits, for every parser that reads them (JSON's \u escapes,
 * percent-encoding, addresses in crash reports). */
#ifndef RUM_HEX_H
#define RUM_HEX_H

/* The value of one hex digit (either case), or -1. */
static inline int hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

#endif
