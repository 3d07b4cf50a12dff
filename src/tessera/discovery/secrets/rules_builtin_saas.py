"""Built-in rules: messaging, payments, e-commerce, observability, productivity and AI services.

Examples are fake by construction and split in the source so this file is not itself a leak."""

from __future__ import annotations

from tessera.discovery.secrets.models import Severity
from tessera.discovery.secrets.ruledef import define

CRIT = Severity.CRITICAL
MED = Severity.MEDIUM
LOW = Severity.LOW
HEX = "0123456789abcdef"
EX = "EXAMPLE0"
_END = r"(?![A-Za-z0-9_-])"
_ASSIGN = r"[\"']?\s*[:=]\s*[\"']?"

# fmt: off
RULES = (
    define(
        "slack-bot-token", "Slack bot token",
        r"\b(xoxb-[0-9]{10,13}-[0-9]{10,13}-[A-Za-z0-9]{24})\b", ("xoxb-",),
        "xo" "xb-" + "0000000000-0000000000-" + EX * 3, "xoxb-EXAMPLE",
    ),
    define(
        "slack-user-token", "Slack user token",
        r"\b(xox[pe](?:-[0-9]{10,13}){3}-[A-Za-z0-9]{28,34})\b", ("xoxp-", "xoxe-"),
        "xo" "xp-" + "0000000000-" * 3 + EX * 4, "xoxp-0000",
    ),
    define(
        "slack-app-token", "Slack app-level token",
        r"(?i)\b(xapp-\d-[A-Z0-9]+-\d+-[a-z0-9]+)\b", ("xapp-",),
        "xa" "pp-1-" + "AEXAMPLE0-0000000000-" + "example0" * 8, "xapp-EXAMPLE",
    ),
    define(
        "slack-config-token", "Slack configuration token",
        r"\b(xoxe\.xox[bp]-\d-[A-Z0-9]{146,})\b", ("xoxe.xox",),
        "xo" "xe.xoxp-1-" + EX * 19, "xoxe.xoxp-1-SHORT",
    ),
    define(
        "slack-webhook-url", "Slack incoming webhook URL",
        r"(https://hooks\.slack\.com/(?:services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]{23,24}"
        r"|workflows/T[A-Z0-9]+/A[A-Z0-9]+/\d+/[A-Za-z0-9]{23,24}"
        r"|triggers/T[A-Z0-9]+/\d+/[A-Za-z0-9]{32}))",
        ("hooks.slack.com",),
        "https://hooks." "slack.com/services/TEXAMPLE/BEXAMPLE/" + EX * 3,
        "https://hooks.slack.com/services/", severity=MED,
    ),
    define(
        "discord-bot-token", "Discord bot token",
        r"\b([MNO][A-Za-z0-9_-]{23,25}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,38})" + _END,
        ("discord",), "DISCORD_TOKEN=" + "M" + EX * 3 + ".EXAMPL." + EX * 4,
        "DISCORD_TOKEN=M.short.token",
    ),
    define(
        "discord-webhook-url", "Discord webhook URL",
        r"(https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/\d{17,20}/"
        r"[A-Za-z0-9_-]{60,68})",
        ("discord",), "https://discord" ".com/api/webhooks/" + "0" * 18 + "/" + EX * 8,
        "https://discord.com/api/webhooks/000000000000000000/", severity=MED,
    ),
    define(
        "telegram-bot-token", "Telegram bot token",
        r"\b(\d{8,10}:AA[0-9A-Za-z_-]{33})" + _END, (":aa",),
        "TELEGRAM_TOKEN=" + "123456789:" "AA" + EX * 4 + "E", "at 12345678:AAshort",
    ),
    define(
        "twilio-api-key", "Twilio API key", r"\b(SK[0-9a-fA-F]{32})\b", ("sk",),
        "S" "K" + HEX * 2, "SKEXAMPLE",
    ),
    define(
        "sendgrid-api-key", "SendGrid API key",
        r"\b(SG\.[0-9A-Za-z_-]{22}\.[0-9A-Za-z_-]{43})" + _END, ("sg.",),
        "S" "G." + EX * 2 + "EXAMPL." + EX * 5 + "EXA", "SG.EXAMPLE.short",
    ),
    define(
        "mailgun-api-key", "Mailgun private API key", r"\b(key-[0-9a-f]{32})\b", ("key-",),
        "ke" "y-" + HEX * 2, "key-EXAMPLE",
    ),
    define(
        "mailchimp-api-key", "Mailchimp API key", r"\b([0-9a-f]{32}-us[0-9]{1,2})\b", ("-us",),
        HEX * 2 + "-u" "s6", "deadbeef-us6",
    ),
    define(
        "stripe-secret-key", "Stripe secret key",
        r"\b(sk_(?:live|test)_[0-9A-Za-z]{24,247})\b", ("sk_live_", "sk_test_"),
        "s" "k_test_" + EX * 3, "sk_test_short", severity=CRIT,
    ),
    define(
        "stripe-restricted-key", "Stripe restricted key",
        r"\b(rk_(?:live|test)_[0-9A-Za-z]{24,247})\b", ("rk_live_", "rk_test_"),
        "r" "k_test_" + EX * 3, "rk_test_short",
    ),
    define(
        "stripe-webhook-secret", "Stripe webhook signing secret",
        r"\b(whsec_[0-9A-Za-z]{32,})\b", ("whsec_",), "wh" "sec_" + EX * 4, "whsec_short",
    ),
    define(
        "square-access-token", "Square access token",
        r"\b(EAAA[0-9A-Za-z+=_-]{60}|sq0atp-[0-9A-Za-z_-]{22})(?![0-9A-Za-z+=_-])",
        ("eaaa", "sq0atp-"), "EA" "AA" + EX * 7 + "EXAM", "EAAAshort",
    ),
    define(
        "square-oauth-secret", "Square OAuth application secret",
        r"\b(sq0csp-[0-9A-Za-z_-]{43})" + _END, ("sq0csp-",),
        "sq0" "csp-" + EX * 5 + "EXA", "sq0csp-short",
    ),
    define(
        "braintree-access-token", "PayPal Braintree access token",
        r"\b(access_token\$(?:production|sandbox)\$[0-9a-z]{16}\$[0-9a-f]{32})\b",
        ("access_token$",), "access_token$" "production$" + "example000000000$" + HEX * 2,
        "access_token$production$short$00",
    ),
    define(
        "shopify-access-token", "Shopify access token (admin, custom or private app)",
        r"\b(shp(?:at|ca|pa)_[a-fA-F0-9]{32})\b", ("shpat_", "shpca_", "shppa_"),
        "shp" "at_" + HEX * 2, "shpat_EXAMPLE",
    ),
    define(
        "shopify-shared-secret", "Shopify app shared secret",
        r"\b(shpss_[a-fA-F0-9]{32})\b", ("shpss_",), "shp" "ss_" + HEX * 2, "shpss_EXAMPLE",
    ),
    define(
        "datadog-api-key", "Datadog API key",
        r"(?i)(?:datadog|\bdd)[_-]?api[_-]?key" + _ASSIGN + r"([a-f0-9]{32})\b",
        ("datadog", "dd_api", "dd-api", "ddapi"), "DD_API" "_KEY=" + HEX * 2,
        "DD_API_KEY=${DD_API_KEY}",
    ),
    define(
        "datadog-app-key", "Datadog application key",
        r"(?i)(?:datadog|\bdd)[_-]?app(?:lication)?[_-]?key" + _ASSIGN + r"([a-f0-9]{40})\b",
        ("datadog", "dd_app", "dd-app", "ddapp"), "DD_APP" "_KEY=" + HEX * 2 + HEX[:8],
        "DD_APP_KEY=${DD_APP_KEY}",
    ),
    define(
        "newrelic-user-api-key", "New Relic user API key", r"\b(NRAK-[A-Z0-9]{27})\b",
        ("nrak-",), "NR" "AK-" + "EXAMPLE0" * 3 + "EXA", "NRAK-SHORT",
    ),
    define(
        "newrelic-license-key", "New Relic ingest license key", r"\b([a-f0-9]{36}NRAL)\b",
        ("nral",), HEX * 2 + "0123" + "NR" "AL", "abcNRAL",
    ),
    define(
        "newrelic-insights-key", "New Relic Insights insert or query key",
        r"\b(NRI[IQ]-[A-Za-z0-9_-]{32})" + _END, ("nrii-", "nriq-"), "NR" "II-" + EX * 4,
        "NRII-short",
    ),
    define(
        "newrelic-browser-key", "New Relic browser API key", r"\b(NRJS-[a-f0-9]{19})\b",
        ("nrjs-",), "NR" "JS-" + HEX + "012", "NRJS-xyz", severity=LOW,
    ),
    define(
        "sentry-org-token", "Sentry organization auth token",
        r"\b(sntrys_eyJ[A-Za-z0-9+/=_-]{60,})(?![A-Za-z0-9+/=_-])", ("sntrys_",),
        "sntry" "s_eyJ" + EX * 9, "sntrys_short",
    ),
    define(
        "sentry-user-token", "Sentry user auth token", r"\b(sntryu_[a-f0-9]{64})\b",
        ("sntryu_",), "sntry" "u_" + HEX * 4, "sntryu_short",
    ),
    define(
        "grafana-cloud-token", "Grafana Cloud access policy token",
        r"\b(glc_[A-Za-z0-9+/]{32,400}={0,2})", ("glc_",), "gl" "c_" + EX * 5, "glc_short",
    ),
    define(
        "grafana-service-account-token", "Grafana service account token",
        r"\b(glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8})\b", ("glsa_",),
        "gl" "sa_" + EX * 4 + "_" + HEX[:8], "glsa_short",
    ),
    define(
        "dynatrace-token", "Dynatrace API token", r"\b(dt0c01\.[A-Z0-9]{24}\.[A-Z0-9]{64})\b",
        ("dt0c01.",), "dt0" "c01." + "EXAMPLE0" * 3 + "." + "EXAMPLE0" * 8, "dt0c01.SHORT",
    ),
    define(
        "linear-api-key", "Linear API key or OAuth token",
        r"\b(lin_(?:api|oauth)_[A-Za-z0-9]{40})\b", ("lin_api_", "lin_oauth_"),
        "lin" "_api_" + EX * 5, "lin_api_short",
    ),
    define(
        "notion-token", "Notion integration token",
        r"\b(ntn_[0-9]{11}[A-Za-z0-9]{35}|secret_[A-Za-z0-9]{43})\b", ("ntn_", "secret_"),
        "nt" "n_" + "00000000000" + EX * 4 + "EXA", "secret_key_base",
    ),
    define(
        "postman-api-key", "Postman API key",
        r"\b(PMAK-[a-f0-9]{24}-[a-f0-9]{34})\b", ("pmak-",),
        "PM" "AK-" + HEX + HEX[:8] + "-" + HEX * 2 + "01", "PMAK-short",
    ),
    define(
        "okta-api-token", "Okta API token",
        r"(?i)okta.{0,40}?\b(00[A-Za-z0-9_-]{40})" + _END, ("okta",),
        "OKTA_API" "_TOKEN=00" + EX * 5, "OKTA_API_TOKEN=00short",
    ),
    define(
        "openai-api-key", "OpenAI API key",
        r"\b(sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}T3BlbkFJ[A-Za-z0-9_-]{20,})" + _END,
        ("t3blbkfj",), "sk-" "proj-" + EX * 3 + "T3Blbk" "FJ" + EX * 3, "sk-EXAMPLE",
        severity=CRIT,
    ),
    define(
        "anthropic-api-key", "Anthropic API key",
        r"\b(sk-ant-(?:api|admin)\d{2}-[A-Za-z0-9_-]{80,120})" + _END, ("sk-ant-",),
        "sk-" "ant-api03-" + EX * 11 + "AA", "sk-ant-api03-short", severity=CRIT,
    ),
    define(
        "huggingface-access-token", "Hugging Face user access token",
        r"\b(hf_[A-Za-z]{34})\b", ("hf_",), "h" "f_" + "EXAMPLE" * 4 + "EXAMPL",
        "hf_" + EX * 4,
    ),
    define(
        "huggingface-org-token", "Hugging Face organization API token",
        r"\b(api_org_[A-Za-z]{34})\b", ("api_org_",), "api" "_org_" + "EXAMPLE" * 4 + "EXAMPL",
        "api_org_short",
    ),
)
# fmt: on
