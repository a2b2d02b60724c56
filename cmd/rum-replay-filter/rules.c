/* A ruleset's storage, and where a byte of rule text is for a person. The
 * lexer is in rules_lex.c, the parser that fills a ruleset in
 * rules_parse.c, the evaluator in rules_eval.c. */
#include <stdlib.h>

#include "rules_int.h"

struct ruleset *ruleset_new(void)
{
	return calloc(1, sizeof(struct ruleset));
}

void ruleset_free_lits(struct ruleset *rs, size_t from)
{
	for (size_t i = from; i < rs->nlits; i++)
		if (rs->lits[i].re)
			pcre2_code_free(rs->lits[i].re);
	rs->nlits = from;
}

void ruleset_free(struct ruleset *rs)
{
	if (!rs)
		return;
	ruleset_free_lits(rs, 0);
	free(rs->nodes);
	free(rs->lits);
	free(rs->kids);
	free(rs->keys);
	free(rs->roots);
	buf_free(&rs->strs);
	free(rs);
}

size_t ruleset_count(const struct ruleset *rs)
{
	return rs ? rs->nroots : 0;
}

void rule_position(const char *text, size_t n, size_t offset, size_t *line, size_t *col)
{
	size_t ln = 1, c = 1;
	if (offset > n)
		offset = n;
	for (size_t i = 0; i < offset; i++) {
		unsigned char ch = (unsigned char)text[i];
		if (ch == '\n') {
			ln++;
			c = 1;
		} else if ((ch & 0xC0) != 0x80) {
			c++;
		}
	}
	*line = ln;
	*col = c;
}
