# vapi_calls: PGXS build.  The version lives in vapi_calls.control only.

# The source directory, also when building elsewhere (make -f dir/Makefile).
srcroot := $(dir $(lastword $(MAKEFILE_LIST)))

EXTENSION = vapi_calls
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" $(srcroot)$(EXTENSION).control)

MODULE_big = vapi_calls
OBJS = \
	src/batch.o \
	src/classify.o \
	src/countries.o \
	src/dircache.o \
	src/eventlog.o \
	src/guc.o \
	src/ingest.o \
	src/direct.o \
	src/merge.o \
	src/merge_fn.o \
	src/model.o \
	src/notify.o \
	src/payload.o \
	src/resolve.o \
	src/sources.o \
	src/spi_util.o \
	src/replay.o \
	src/reresolve.o \
	src/expire.o \
	src/auth.o \
	src/request.o \
	src/http.o \
	src/api.o \
	src/reply.o \
	src/ingest_call.o

DATA = $(patsubst $(srcroot)%,%,$(wildcard $(srcroot)sql/$(EXTENSION)--*.sql))

REGRESS = \
	setup \
	normalize_phone \
	classify_ended_reason \
	ingest_shapes \
	resolution \
	bad_input \
	never_raises \
	ingest_call \
	real_shapes \
	default_country \
	operations \
	convergence \
	error_capture \
	replay \
	reresolve \
	log_events \
	sources \
	directory_cache \
	check \
	auth_bearer \
	auth_hmac \
	auth_hmac_options \
	replies \
	privileges \
	search_path \
	tenants \
	call_log \
	notify \
	merge_rule \
	storage \
	ordering \
	direct_access \
	batch \
	api_snapshot \
	examples
ISOLATION = \
	direct_race \
	first_insert_race \
	report_progress_race \
	duplicate_race \
	lock_failure_capture \
	reresolve_race \
	expire_concurrent \
	notify_commit \
	resolver_race \
	replay_live \
	directory_cache_race
REGRESS_OPTS = --load-extension=vapi_calls --load-extension=pgcrypto
# sql/examples.sql reads the real Vapi bodies kept in test/data/vapi-examples.
export VAPI_EXAMPLES_DIR ?= $(abspath $(srcdir)/test/data/vapi-examples)
ISOLATION_OPTS = --load-extension=vapi_calls

PG_CPPFLAGS = -I$(srcdir)/src
# libcurl (Debian libcurl4-openssl-dev) for Vapi's REST API: src/http.c
SHLIB_LINK += -lcurl
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare \
	-Wno-missing-field-initializers
# Warnings are errors in the test suite (scripts/lib.sh builds with
# WERROR=1), not in a plain make: a newer compiler's new warning must not
# refuse a user's or a packager's build.
ifeq ($(WERROR),1)
PG_CFLAGS += -Werror
endif

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# A build in another directory (make -f path/Makefile VPATH=path, as
# pg_buildext does for debian/) needs its own src/ for the objects.
ifdef VPATH
$(OBJS) $(OBJS:.o=.bc): | vpath-objdirs
vpath-objdirs:
	@mkdir -p src
.PHONY: vpath-objdirs
endif

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
