"""Sizes, names and word lists the generator draws from."""

from __future__ import annotations

from datetime import datetime, timezone

MIN_SCALE = 50
SPAN_DAYS = 1200  # the oldest space is this old: a little over three years
DAY_MS = 86_400_000
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
BIG_BODY_BYTES = 1_200_000
CHAIN = 10  # nodes below the homepage in each space's deep chain (one of them a folder)
CHAIN_FOLDER = 4

FIRST_NAMES = ["Alice", "Bob", "Carla", "David", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas",
               "Kemal", "Lena", "Marco", "Nadia", "Oscar", "Priya", "Quentin", "Rosa", "Samuel", "Tara",
               "Umar", "Vera", "Wei", "Ximena", "Yusuf", "Zoe", "Anders", "Bianca", "Chidi", "Dana",
               "Emil", "Fatima", "Gustav", "Hana", "Ivan", "Julia", "Kofi", "Laila", "Mateo", "Nora"]
LAST_NAMES = ["Anderson", "Becker", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Hansen",
              "Ito", "Jensen", "Kowalski", "Lopez", "Müller", "Nakamura", "Okafor", "Petrov", "Quinn",
              "Rossi", "Schmidt", "Tanaka", "Usman", "Varga", "Wagner", "Xu", "Young", "Zimmermann",
              "Novak", "Silva", "Berg", "Moreau", "O'Brien", "Kim", "Haddad", "Larsen", "Mendes"]
NON_LATIN_NAMES = [  # (display name, email local part, time zone)
    ("田中 花子", "hanako.tanaka", "Asia/Tokyo"), ("佐藤 健", "ken.sato", "Asia/Tokyo"),
    ("Иван Петров", "ivan.petrov", "Europe/Moscow"), ("Ольга Смирнова", "olga.smirnova", "Europe/Moscow"),
    ("ليلى حداد", "layla.haddad", "Asia/Dubai"), ("عمر الفاروق", "omar.alfarouq", "Africa/Cairo"),
    ("Γιώργος Παπαδόπουλος", "giorgos.papadopoulos", "Europe/Athens"),
    ("Ελένη Νικολάου", "eleni.nikolaou", "Europe/Athens"), ("王芳", "fang.wang", "Asia/Shanghai"),
    ("김민준", "minjun.kim", "Asia/Seoul"), ("राहुल शर्मा", "rahul.sharma", "Asia/Kolkata"),
]
TIME_ZONES = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney", "Europe/London",
              "America/Chicago", "America/Sao_Paulo", "Asia/Kolkata", "Europe/Paris", "Asia/Singapore",
              "Pacific/Auckland", "Africa/Johannesburg", "America/Denver", "Asia/Kathmandu",
              "Australia/Adelaide", "America/St_Johns", "Europe/Madrid", "UTC", "America/Los_Angeles"]
APP_USERS = [("Jira Cloud", "jira"), ("Automation for Confluence", "automation")]
SPACE_NAMES = ["Engineering", "Product Management", "Human Resources", "Customer Support", "Marketing",
               "Finance", "Legal", "Design", "Data Platform", "Security", "IT Help Desk", "Sales",
               "Operations", "Research", "Mobile", "Infrastructure", "Quality Assurance", "Partnerships"]
TEAM_GROUP_PREFIXES = ["engineering", "platform", "payments", "data", "mobile", "security", "support",
                       "design", "finance", "legal", "growth", "infra", "qa", "sales", "marketing",
                       "research", "hr", "ops", "it", "product", "web", "search", "identity", "billing"]
TEAM_GROUP_SUFFIXES = ["team", "leads", "emea", "amer", "apac", "guild", "oncall", "contractors",
                       "managers", "reviewers", "berlin", "tokyo", "nyc", "sydney", "alumni"]
LABEL_NAMES = ["architecture", "onboarding", "runbook", "meeting-notes", "howto", "decision", "retro",
               "planning", "security", "release", "incident", "draft", "faq", "roadmap", "api",
               "kb-how-to-article", "kb-troubleshooting-article", "customer", "legal-review", "budget",
               "hiring", "design", "performance", "postmortem", "q1", "q2", "q3", "q4", "документация",
               "設計", "compliance", "okr", "training", "vendor", "migration", "deprecated"]
VERSION_MESSAGES = ["", "", "", "", "Fixed typo", "Updated the owners", "Added rollout steps",
                    "Reorganised sections", "Review comments", "Refreshed numbers", "Moved from old space"]
ATTACHMENT_COMMENTS = ["", "", "", "", "Final version", "Uploaded from the mobile app", "Signed copy",
                       "Exported from the dashboard", "Draft for review"]
AUDIT_ADDRESSES = ["203.0.113.%d", "198.51.100.%d", "192.0.2.%d", "10.20.1.%d"]

# Operation sets per principal, as in the real include-permissions recording (REAL.md §7).
OWNER_OPERATIONS = [("read", "space"), ("create", "page"), ("create", "blogpost"), ("create", "comment"),
                    ("create", "attachment"), ("update", "page"), ("update", "blogpost"),
                    ("delete", "page"), ("delete", "blogpost"), ("delete", "comment"), ("archive", "page"),
                    ("archive_space", "space"), ("export", "space"), ("export_content", "space"),
                    ("restrict_content", "space"), ("manage_templates", "space"),
                    ("manage_public_links", "space"), ("manage_guest_users", "space"),
                    ("manage_nonlicensed_users", "space"), ("administer", "space")]
MEMBER_OPERATIONS = [("read", "space"), ("create", "page"), ("create", "blogpost"), ("create", "comment"),
                     ("create", "attachment"), ("update", "page"), ("update", "blogpost"),
                     ("delete", "comment"), ("archive", "page"), ("export_content", "space")]
ADMIN_OPERATIONS = [("read", "space"), ("administer", "space"), ("create", "page"), ("create", "blogpost"),
                    ("create", "comment"), ("create", "attachment"), ("delete", "page"),
                    ("delete", "blogpost"), ("delete", "comment"), ("delete", "attachment"),
                    ("delete", "space"), ("archive", "page"), ("archive_space", "space"),
                    ("export", "space"), ("export_content", "space"), ("manage_content", "space"),
                    ("manage_users", "space"), ("manage_templates", "space"),
                    ("manage_public_links", "space"), ("manage_guest_users", "space")]
READER_OPERATIONS = [("read", "space"), ("create", "comment")]
