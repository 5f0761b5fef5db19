# vapi_calls: PGXS build.  The version lives in vapi_calls.control only.

EXTENSION = vapi_calls
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" $(EXTENSION).control)

MODULE_big = vapi_calls
OBJS = \
	src/classify.o \
	src/eventlog.o \
	src/guc.o \
	src/ingest.o \
	src/merge.o \
	src/merge_fn.o \
	src/notify.o \
	src/payload.o \
	src/resolve.o \
	src/sources.o \
	src/spi_util.o \
	src/replay.o \
	src/reresolve.o \
	src/auth.o \
	src/request.o \
	src/reply.o

DATA = $(wildcard sql/$(EXTENSION)--*.sql)

REGRESS = \
	setup \
	normalize_phone \
	classify_ended_reason \
	ingest_shapes \
	resolution \
	bad_input \
	operations \
	convergence \
	error_capture \
	replay \
	reresolve \
	log_events \
	sources \
	check \
	auth_bearer \
	auth_hmac \
	auth_hmac_options \
	replies \
	privileges \
	tenants \
	call_log \
	notify \
	merge_rule
ISOLATION = \
	first_insert_race \
	report_progress_race \
	duplicate_race \
	lock_failure_capture \
	reresolve_race \
	expire_concurrent \
	notify_commit
REGRESS_OPTS = --load-extension=vapi_calls --load-extension=pgcrypto
ISOLATION_OPTS = --load-extension=vapi_calls

PG_CPPFLAGS = -Isrc
PG_CFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare \
	-Wno-missing-field-initializers

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# For scripts/test.sh, which runs pg_regress against its own cluster.
print-regress:
	@echo $(REGRESS)
print-isolation:
	@echo $(ISOLATION)
print-regress-opts:
	@echo $(REGRESS_OPTS)
.PHONY: print-regress print-isolation print-regress-opts

# A release tarball of the committed tree: make dist [DISTDIR=dir] writes
# $(DISTDIR)/vapi_calls-<version>.tar.gz (git archive of HEAD).
DISTDIR ?= .
dist:
	@git diff --quiet HEAD -- || echo "make dist: uncommitted changes are not in the tarball" >&2
	git archive --format=tar.gz --prefix=$(EXTENSION)-$(EXTVERSION)/ \
		-o $(DISTDIR)/$(EXTENSION)-$(EXTVERSION).tar.gz HEAD
.PHONY: dist
