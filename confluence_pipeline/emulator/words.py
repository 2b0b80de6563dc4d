"""The words generated sites are written in: vocabulary for titles and sentences, and the planted
facts (distinctive sentences a relevance test searches for), made from the seed alone so that
attachment files (`files.py`) can carry them without the workspace."""

from __future__ import annotations

import functools
import random

PLANTED_FACTS = 66  # at least 60, every scale
ATTACHMENT_FACTS = 22  # the first third of them live in attachment files


TEAMS = ["platform", "payments", "data", "mobile", "security", "support", "design", "finance",
         "legal", "growth", "infrastructure", "QA", "search", "identity", "billing", "analytics",
         "marketing", "sales engineering", "developer experience", "site reliability"]
THINGS = ["deployment pipeline", "billing service", "search index", "onboarding flow",
          "release checklist", "customer portal", "VPN gateway", "data warehouse",
          "feature flag system", "API gateway", "staging cluster", "incident runbook",
          "access review", "backup job", "mobile app", "design system", "pricing page",
          "audit trail", "message queue", "cost report", "load balancer", "sign-up form",
          "support macro library", "vendor contract", "quarterly roadmap", "hiring plan",
          "status page", "log retention policy", "on-call rotation", "test suite"]
EVENTS = ["last outage", "quarterly review", "migration", "security audit", "launch",
          "customer escalation", "budget meeting", "retro", "architecture review", "offsite"]
VERBS = ["review", "update", "migrate", "document", "retire", "monitor", "simplify", "automate",
         "rebuild", "test", "benchmark", "rename", "split", "harden", "archive"]
VERBS_PAST = ["reviewed", "updated", "migrated", "documented", "retired", "monitored",
              "simplified", "automated", "rebuilt", "tested", "benchmarked", "hardened"]
ROLES = ["The owner", "Each team lead", "The release manager", "The on-call engineer",
         "A reviewer", "The product manager", "Whoever picks this up", "The support lead"]
WHENS = ["every Monday", "before each release", "once a quarter", "after every incident",
         "at the end of the sprint", "during the freeze", "twice a year", "within two days"]
PROBLEMS = ["toil", "alert fatigue", "duplicate work", "cost overruns", "slow reviews",
            "flaky tests", "manual steps", "unclear ownership", "stale documentation", "churn"]
METRICS = ["Median latency", "Error rate", "Build time", "Ticket backlog", "Cloud spend",
           "Page load time", "Test coverage", "Time to resolve", "Activation rate"]
PERIODS = ["January", "the last release", "the migration", "Q2", "the reorg", "last year"]

_SENTENCE_TEMPLATES = [
    "The %(team)s team %(verb_past)s the %(thing)s after the %(event)s.",
    "%(role)s should %(verb)s the %(thing)s %(when)s.",
    "We agreed to %(verb)s the %(thing)s %(when)s to reduce %(problem)s.",
    "If the %(thing)s fails, %(verb)s the %(thing2)s and tell the %(team)s team.",
    "See the notes from the %(event)s for details on the %(thing)s.",
    "%(metric)s improved by %(n)d percent since %(period)s.",
    "Ownership of the %(thing)s moves to the %(team)s team %(when)s.",
    "%(role)s keeps the %(thing)s and the %(thing2)s in sync.",
    "The %(thing)s is the main source of %(problem)s for the %(team)s team.",
    "Until the %(event)s we will not %(verb)s the %(thing)s.",
    "Questions about the %(thing)s go to the %(team)s channel.",
    "%(metric)s for the %(thing)s is tracked on the dashboard %(when)s.",
]

HEADINGS = ["Overview", "Background", "Goals", "Non-goals", "Scope", "Timeline", "Risks",
            "Open questions", "Decision", "Rollout plan", "How to", "Troubleshooting", "FAQ",
            "Next steps", "Related pages", "Action items", "Context", "Architecture",
            "Requirements", "Success metrics", "Dependencies", "Summary"]

DOC_KINDS = ["runbook", "design doc", "meeting notes", "how-to", "retrospective", "roadmap",
             "checklist", "postmortem", "onboarding guide", "FAQ", "decision record",
             "requirements", "status report", "playbook", "reference", "policy", "release notes",
             "architecture overview", "test plan", "glossary"]

FOLDER_NAMES = ["Archive", "Drafts", "Team docs", "Templates", "Meeting notes", "Planning",
                "Reference", "Projects", "Old", "Inbox", "Shared", "Specs", "Reports", "Research"]

NON_LATIN_TITLES = ["設計レビュー", "デプロイ手順", "Обзор архитектуры", "План релиза",
                    "خطة الإطلاق", "Σημειώσεις συνάντησης", "Οδηγός εγκατάστασης", "会议记录",
                    "🚀 Launch plan", "✅ Release checklist", "🎉 Team offsite", "🔥 Incident review"]

NON_LATIN_PARAGRAPHS = [
    "このページでは新しいデプロイ手順を説明します。質問があればチャンネルで聞いてください。",
    "リリース前に必ずチェックリストを確認してください。🚀",
    "На этой странице описан процесс развёртывания нового сервиса.",
    "Пожалуйста, обновите документацию после каждого релиза. ✅",
    "تصف هذه الصفحة عملية النشر الجديدة للخدمة.",
    "يرجى مراجعة قائمة التحقق قبل كل إصدار.",
    "Αυτή η σελίδα περιγράφει τη νέα διαδικασία ανάπτυξης.",
    "Παρακαλούμε ενημερώστε την τεκμηρίωση μετά από κάθε έκδοση. 🎉",
    "本页介绍新的部署流程。如有问题请在频道中提问。",
    "Ship it 🚢 and celebrate 🎉 — then write the retro 📝.",
]

EMOTICONS = [  # (ac:name, shortname, emoji id, fallback)
    ("smile", ":slight_smile:", "1f642", "🙂"),
    ("tick", ":check_mark:", "2714", "✔️"),
    ("warning", ":warning:", "26a0", "⚠️"),
    ("blue-star", ":rocket:", "1f680", "🚀"),
    ("thumbs-up", ":thumbsup:", "1f44d", "👍"),
    ("information", ":information_source:", "2139", "ℹ️"),
    ("blue-star", ":calendar_spiral:", "1f5d3", "🗓️"),
]

CODE_SAMPLES = [
    ("python", "def retry(fn, attempts=3):\n    for i in range(attempts):\n        try:\n"
               "            return fn()\n        except TimeoutError:\n            if i == attempts - 1:\n"
               "                raise\n"),
    ("sql", "SELECT space_key, count(*) AS pages\nFROM pages\nWHERE status = 'current'\n"
            "GROUP BY space_key\nORDER BY pages DESC;\n"),
    ("bash", "#!/usr/bin/env bash\nset -euo pipefail\nkubectl rollout status deploy/api -n prod\n"
             "kubectl get pods -n prod | grep -v Running || true\n"),
    ("java", "public final class Greeter {\n    public String greet(String name) {\n"
             "        return \"Hello, \" + name + \"!\";\n    }\n}\n"),
    ("yaml", "service: billing\nreplicas: 3\nresources:\n  limits:\n    cpu: \"2\"\n"
             "    memory: 4Gi\nalerts:\n  - latency_p99 > 800ms\n"),
    ("json", "{\n  \"feature\": \"new-checkout\",\n  \"enabled\": true,\n"
             "  \"rollout\": {\"percent\": 25, \"regions\": [\"eu\", \"us\"]}\n}\n"),
    ("javascript", "export async function fetchAll(url) {\n  const out = [];\n"
                   "  for (let next = url; next; ) {\n    const res = await fetch(next);\n"
                   "    const body = await res.json();\n    out.push(...body.results);\n"
                   "    next = body._links?.next;\n  }\n  return out;\n}\n"),
    ("go", "func Healthy(ctx context.Context, c *Client) error {\n"
           "\tctx, cancel := context.WithTimeout(ctx, 2*time.Second)\n\tdefer cancel()\n"
           "\treturn c.Ping(ctx)\n}\n"),
]

UNKNOWN_MACROS = ["drawio", "com.acme.kpi-dashboard"]
PANEL_MACROS = ["info", "note", "warning", "tip"]
STATUS_COLOURS = ["Green", "Yellow", "Red", "Blue", "Grey", "Purple"]
STATUS_TITLES = ["done", "in progress", "blocked", "on track", "at risk", "new"]


def make_sentences(rng: random.Random, count: int) -> list[str]:
    """Plain-text English sentences about everyday work (no markup, ASCII only)."""
    out = []
    for _ in range(count):
        out.append(rng.choice(_SENTENCE_TEMPLATES) % {
            "team": rng.choice(TEAMS), "thing": rng.choice(THINGS), "thing2": rng.choice(THINGS),
            "event": rng.choice(EVENTS), "verb": rng.choice(VERBS), "verb_past": rng.choice(VERBS_PAST),
            "role": rng.choice(ROLES), "when": rng.choice(WHENS), "problem": rng.choice(PROBLEMS),
            "metric": rng.choice(METRICS), "period": rng.choice(PERIODS), "n": rng.randint(3, 60),
        })
    return out


def make_paragraph_texts(rng: random.Random, sentences: list[str], count: int) -> list[str]:
    return [" ".join(rng.choices(sentences, k=rng.randint(2, 5))) for _ in range(count)]


_SYLLABLES_A = ["Zeph", "Quor", "Vel", "Tamb", "Oryx", "Kest", "Marr", "Brin", "Sol", "Thal",
                "Yss", "Drav", "Kol", "Nim", "Pell", "Rask", "Ulm", "Wex", "Fjor", "Gral"]
_SYLLABLES_B = ["ara", "ion", "ith", "ova", "unde", "ex", "ira", "oth", "ane", "yx", "ell", "urn"]
_FACT_SUBJECTS = ["turbine", "cold storage vault", "badge reader firmware", "ledger reconciliation",
                  "satellite uplink", "greenhouse controller", "tram depot", "pharmacy robot",
                  "kiln", "water purifier", "drone fleet", "archive scanner", "seismic sensor",
                  "data diode", "harbour crane", "bakery oven", "telescope mount", "wind tunnel"]
_FACT_ATTRIBUTES = [("inspection interval", "days"), ("rollback window", "minutes"),
                    ("retention period", "weeks"), ("maximum payload", "kilograms"),
                    ("calibration tolerance", "micrometres"), ("warm-up time", "seconds"),
                    ("battery reserve", "percent"), ("escalation threshold", "tickets"),
                    ("replacement cycle", "months"), ("noise limit", "decibels")]


@functools.lru_cache(maxsize=8)
def planted_facts(seed: int) -> tuple[tuple[str, str], ...]:
    """(query, sentence) pairs. Each query (a made-up code name with a unique number, a subject
    and an attribute) occurs in its own sentence only. Made from the seed alone, since files.py
    needs them without the workspace."""
    rng = random.Random("planted-facts/%d" % seed)
    names = [a + b for a in _SYLLABLES_A for b in _SYLLABLES_B]
    rng.shuffle(names)
    numbers = rng.sample(range(10, 1000), PLANTED_FACTS)
    facts = []
    for i in range(PLANTED_FACTS):
        subject = "%s-%d %s" % (names[i], numbers[i], rng.choice(_FACT_SUBJECTS))
        attribute, unit = rng.choice(_FACT_ATTRIBUTES)
        query = "%s %s" % (subject, attribute)
        facts.append((query, "The %s is %d %s." % (query, rng.randint(2, 990), unit)))
    return tuple(facts)
