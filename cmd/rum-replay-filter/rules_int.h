/* Inside the rules: the compiled form of a ruleset (a flat tree of nodes
 * over literals and keys), shared by the lexer (rules_lex.c), the parser
 * that builds it (rules_parse.c), the evaluator (rules_eval.c) and its
 * storage (rules.c). Private to them. */
#ifndef RUM_REPLAY_FILTER_RULES_INT_H
#define RUM_REPLAY_FILTER_RULES_INT_H

#include <stddef.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "buf.h"
#include "errmsg.h"
#include "rules.h"

/* PCRE2 as close to RE2 as options get: UTF-8 patterns, '$' only at the
 * very end (RE2 has no "before a final newline"), invalid UTF-8 in values
 * simply not matching rather than failing. \d, \w, \s and \b stay ASCII as
 * in RE2. */
#define RE_OPTIONS (PCRE2_UTF | PCRE2_DOLLAR_ENDONLY | PCRE2_MATCH_INVALID_UTF)

/* Values of numbers in rule text and in records: text of at most this
 * length is looked at (longer is not a number). */
#define NUM_TEXT_MAX 64

/* Arrays of the ruleset index with 32 bits: none grows past this. */
#define RULE_ARRAY_MAX (UINT32_MAX / 2)

/* N_NEVER: a comparison DataKit parses but never finds true, such as a
 * name compared with another name ({ service = env }). */
enum nkind { N_OR, N_AND, N_CMP, N_IN, N_NOTIN, N_MATCH, N_NOTMATCH, N_NEVER };
enum cmpop { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE };
enum lkind { L_NULL, L_STR, L_NUM, L_BOOL, L_RE };

struct num {
	int is_int;
	int64_t i;
	double d;
};

struct lit {
	enum lkind kind;
	int b;		 /* L_BOOL */
	struct num num;	 /* L_NUM */
	size_t off, len; /* L_STR, L_RE: the (pattern) text in strs */
	pcre2_code *re;	 /* L_RE, and each item of a match list */
};

/* N_OR, N_AND: children kids[a .. a+n). N_CMP: key a, op, lits[b].
 * N_IN .. N_NOTMATCH: key a, lits[b .. b+n). */
struct node {
	enum nkind kind;
	enum cmpop op;
	uint32_t a, b, n;
};

struct key {
	size_t off; /* NUL-terminated name in strs */
};

struct ruleset {
	struct node *nodes;
	size_t nnodes, cnodes;
	struct lit *lits;
	size_t nlits, clits;
	uint32_t *kids;
	size_t nkids, ckids;
	struct key *keys;
	size_t nkeys, ckeys;
	uint32_t *roots;
	size_t nroots, croots;
	struct buf strs;
};

/* Frees the regular expressions of lits[from..] and drops those lits. */
void ruleset_free_lits(struct ruleset *rs, size_t from);

/* Decimal (with an optional fraction and exponent) or, when allow_hex,
 * 0x hexadecimal, with an optional sign: the number's value into *out.
 * Returns the length of the number at s (0: none); *range_err when it does
 * not fit. Rule text and record values are read alike. */
size_t scan_number(const char *s, size_t n, int allow_hex, struct num *out, int *range_err);

/* ---- the lexer's tokens, and the parser's state it works on ---- */

enum tkind {
	T_EOF,
	T_LBRACE,
	T_RBRACE,
	T_LPAREN,
	T_RPAREN,
	T_LBRACKET,
	T_RBRACKET,
	T_COMMA,
	T_SEMI,
	T_EQ,
	T_NE,
	T_LT,
	T_LE,
	T_GT,
	T_GE,
	T_AND,
	T_OR,
	T_IN,
	T_NOTIN,
	T_MATCH,
	T_NOTMATCH,
	T_NULL,
	T_TRUE,
	T_FALSE,
	T_RE,
	T_IDENT,
	T_STRING,
	T_NUMBER,
};

struct tok {
	enum tkind kind;
	size_t start, end; /* in the rule text */
	struct num num;	   /* T_NUMBER */
	int quoted;	   /* T_IDENT written in backquotes (raw text) */
};

struct parser {
	const char *s;
	size_t n, pos;
	struct tok t;	 /* the current token */
	struct buf text; /* decoded text of the current T_STRING / T_IDENT */
	struct ruleset *rs;
	struct rum_error *err;
	int failed;
	int depth;
	uint32_t *stack; /* children being collected, innermost last */
	size_t nstack, cstack;
};

/* The first error of a rule, at byte `at` of its text; -1. Later calls
 * keep the first message. */
int parse_fail(struct parser *p, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "out of memory" at the current token; -1. */
int parse_nomem(struct parser *p);

/* The next token into p->t (and its text into p->text); 0, or -1 after
 * parse_fail(). */
int lex_next(struct parser *p);

/* A letter or '_' (names and keywords start so); the same or a digit. */
static inline int is_word_start(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static inline int is_word(int c)
{
	return is_word_start(c) || (c >= '0' && c <= '9');
}

#endif
