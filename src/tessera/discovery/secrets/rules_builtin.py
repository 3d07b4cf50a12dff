"""Built-in rules: cloud providers, code hosting, CI and package registries.

Token formats are the providers' published ones. Examples are fake by construction (EXAMPLE,
zeros, counting hex) and split in the source so that this file is not itself a leak."""

from __future__ import annotations

from tessera.discovery.secrets.models import Severity
from tessera.discovery.secrets.ruledef import define

CRIT = Severity.CRITICAL
MED = Severity.MEDIUM
HEX = "0123456789abcdef"
EX = "EXAMPLE0"
_END = r"(?![A-Za-z0-9_-])"
_ASSIGN = r"[\"']?\s*[:=]\s*[\"']?"
_AZ_KEY = "EXAMPLEKEY" * 8 + "EXAMPL=="

# fmt: off
RULES = (
    define(
        "aws-access-key-id", "AWS access key ID",
        r"\b((?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z2-7]{16})\b",
        ("akia", "asia", "abia", "acca", "a3t"),
        "aws_access_key_id = " + "AK" "IA" + "IOSFODNN7EXAMPLE", "key = AKIAiosfodnn7example",
        severity=CRIT,
    ),
    define(
        "aws-secret-access-key", "AWS secret access key",
        r"(?i)\baws_?(?:secret_?access_?key|secret_?key|secret)\b" + _ASSIGN
        + r"([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])",
        ("aws",),
        'aws_secret_access_key = "' + "wJalrXUtnFEMI/K7MDENG/" "bPxRfiCYEXAMPLEKEY" + '"',
        'aws_secret_access_key = os.environ["AWS_SECRET"]', entropy=3.0, severity=CRIT,
    ),
    define(
        "aws-mws-key", "Amazon MWS auth token",
        r"\b(amzn\.mws\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b",
        ("amzn.mws",), "amzn" ".mws." + "00000000-0000-0000-0000-000000000000",
        "amzn.mws.not-a-key",
    ),
    define(
        "gcp-service-account-key", "Google Cloud service account JSON key",
        r'"type"\s*:\s*"service_account"[^{}]{0,2000}?"private_key"\s*:\s*"'
        r'(-----BEGIN (?:RSA )?PRIVATE KEY-----[^"]{32,}?-----END (?:RSA )?PRIVATE KEY-----)',
        ("service_account",),
        '{"type": "service_account", "project_id": "example", "private_key": "-----BEGIN '
        + "PRIVATE KEY-----\\n" + "EXAMPLEKEY" * 8 + '\\n-----END PRIVATE KEY-----\\n"}',
        '{"type": "service_account", "private_key": ""}', severity=CRIT,
    ),
    define(
        "gcp-api-key", "Google Cloud API key", r"\b(AIza[0-9A-Za-z_-]{35})" + _END, ("aiza",),
        "key=" + "AI" "za" + "SyEXAMPLE" + "0" * 26, "AIzaShort",
    ),
    define(
        "gcp-oauth-client-secret", "Google OAuth client secret",
        r"\b(GOCSPX-[0-9A-Za-z_-]{28})" + _END, ("gocspx-",),
        "GOC" "SPX-" + "EXAMPLE" * 4, "GOCSPX-EXAMPLE",
    ),
    define(
        "azure-storage-connection-string", "Azure storage connection string with account key",
        r"(?i)DefaultEndpointsProtocol=https?;AccountName=[^;\s]+;AccountKey=([A-Za-z0-9+/]{86}==)",
        ("accountkey",),
        "DefaultEndpointsProtocol=https;AccountName=example;Account" "Key=" + _AZ_KEY,
        "DefaultEndpointsProtocol=https;AccountName=example;AccountKey=<your-key>",
        severity=CRIT,
    ),
    define(
        "azure-storage-account-key", "Azure storage account key",
        r"(?i)\b(?:account_?key|storage_?key|azure_?storage_?key)" + _ASSIGN
        + r"([A-Za-z0-9+/]{86}==)",
        ("accountkey", "account_key", "storagekey", "storage_key"),
        "AZURE_STORAGE" "_KEY=" + _AZ_KEY, "AZURE_STORAGE_KEY=" + "A" * 20, severity=CRIT,
    ),
    define(
        "azure-ad-client-secret", "Microsoft Entra ID (Azure AD) client secret",
        r"(?:^|[\"'\s=:(,])([A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.-]{31,34})(?![A-Za-z0-9_~.-])",
        ("q~",), 'client_secret = "abc8' "Q~" + "EXAMPLE" * 4 + 'abc"',
        'name = "abc8Q~short"',
    ),
    define(
        "azure-sas-token", "Azure shared access signature",
        r"(?i)[?&]sv=\d{4}-\d{2}-\d{2}[^\s\"'<>]{0,200}?&sig=([A-Za-z0-9%+/]{40,}(?:%3D|=){0,2})",
        ("sig=",), "https://example.blob.core.windows.net/c?sv=2020-08-04&ss=b&s" "ig=" + EX * 6,
        "https://example.blob.core.windows.net/c?sv=2020-08-04&sig=", severity=MED,
    ),
    define(
        "github-pat", "GitHub personal access token (classic)",
        r"\b(ghp_[0-9A-Za-z]{36})\b", ("ghp_",), "gh" "p_" + EX * 4 + "abcd", "ghp_EXAMPLE",
    ),
    define(
        "github-fine-grained-pat", "GitHub fine-grained personal access token",
        r"\b(github_pat_[0-9A-Za-z]{22}_[0-9A-Za-z]{59})\b", ("github_pat_",),
        "github" "_pat_" + EX * 2 + "EXAMPL_" + EX * 7 + "EXA", "github_pat_EXAMPLE_short",
    ),
    define(
        "github-oauth-token", "GitHub OAuth access token",
        r"\b(gho_[0-9A-Za-z]{36})\b", ("gho_",), "gh" "o_" + EX * 4 + "abcd", "gho_EXAMPLE",
    ),
    define(
        "github-app-token", "GitHub App user-to-server or server-to-server token",
        r"\b((?:ghu|ghs)_[0-9A-Za-z]{36})\b", ("ghu_", "ghs_"),
        "gh" "s_" + EX * 4 + "abcd", "ghs_EXAMPLE",
    ),
    define(
        "github-refresh-token", "GitHub refresh token",
        r"\b(ghr_[0-9A-Za-z]{36,76})\b", ("ghr_",), "gh" "r_" + EX * 9, "ghr_EXAMPLE",
    ),
    define(
        "gitlab-pat", "GitLab personal access token",
        r"\b(glpat-[0-9A-Za-z_-]{20,}(?:\.[0-9a-z]{2}\.[0-9a-z]{7,9})?)(?![0-9A-Za-z_.-])",
        ("glpat-",), "gl" "pat-" + EX * 2 + "EXAM", "glpat-EXAMPLE",
    ),
    define(
        "gitlab-pipeline-trigger-token", "GitLab pipeline trigger token",
        r"\b(glptt-[0-9a-f]{40})\b", ("glptt-",), "gl" "ptt-" + HEX * 2 + HEX[:8],
        "glptt-" + "EXAMPLE" * 6,
    ),
    define(
        "gitlab-runner-token", "GitLab runner authentication or registration token",
        r"\b(glrt-[0-9A-Za-z_-]{20,}|GR1348941[0-9A-Za-z_-]{20})" + _END,
        ("glrt-", "gr1348941"), "gl" "rt-" + EX * 3, "glrt-EX",
    ),
    define(
        "gitlab-deploy-token", "GitLab deploy token",
        r"\b(gldt-[0-9A-Za-z_-]{20,})" + _END, ("gldt-",), "gl" "dt-" + EX * 3, "gldt-EX",
    ),
    define(
        "gitlab-other-token", "GitLab CI job, feed, incoming mail, agent or OAuth app token",
        r"\b((?:glcbt|glft|glimt|glsoat|glffct|gloas|glagent)-[0-9A-Za-z_-]{20,})" + _END,
        ("glcbt-", "glft-", "glimt-", "glsoat-", "glffct-", "gloas-", "glagent-"),
        "gl" "ft-" + EX * 3, "glft-x",
    ),
    define(
        "bitbucket-app-password", "Bitbucket app password",
        r"\b(ATBB[A-Za-z0-9_=.-]{32,})(?![A-Za-z0-9_=.-])", ("atbb",),
        "AT" "BB" + EX * 4 + "0123ABCD", "ATBBshort",
    ),
    define(
        "atlassian-api-token", "Atlassian (Jira, Confluence, Bitbucket) API or access token",
        r"\b(AT[AC]TT3[A-Za-z0-9_=+/-]{100,})(?![A-Za-z0-9_=+/-])", ("atatt3", "atctt3"),
        "ATA" "TT3" + "xFfGF0" + EX * 13 + "=0123ABCD", "ATATT3EXAMPLE",
    ),
    define(
        "npm-token", "npm access token", r"\b(npm_[A-Za-z0-9]{36})\b", ("npm_",),
        "np" "m_" + EX * 4 + "EXAM", "npm_config_cache",
    ),
    define(
        "pypi-token", "PyPI API token",
        r"\b(pypi-AgE(?:IcHlwaS5vcmc|NdGVzdC5weXBpLm9yZw)[A-Za-z0-9_-]{50,})" + _END,
        ("pypi-age",), "py" "pi-AgEIcHlwaS5vcmc" + EX * 7, "pypi-AgEIcHlwaS5vcmcshort",
    ),
    define(
        "rubygems-api-key", "RubyGems API key", r"\b(rubygems_[0-9a-f]{48})\b", ("rubygems_",),
        "ruby" "gems_" + HEX * 3, "rubygems_version",
    ),
    define(
        "nuget-api-key", "NuGet API key", r"\b(oy2[a-z0-9]{43})\b", ("oy2",),
        "o" "y2" + "example0" * 5 + "exa", "oy2short",
    ),
    define(
        "dockerhub-token", "Docker Hub personal or organisation access token",
        r"\b(dckr_(?:pat|oat)_[A-Za-z0-9_-]{27,})" + _END, ("dckr_pat_", "dckr_oat_"),
        "dckr" "_pat_" + EX * 3 + "EXA", "dckr_pat_short",
    ),
    define(
        "vault-service-token", "HashiCorp Vault service token",
        r"\b(hvs\.[A-Za-z0-9_-]{24,})" + _END, ("hvs.",), "VAULT_TOKEN=" + "hv" "s." + EX * 12,
        "hvs.short", severity=CRIT,
    ),
    define(
        "vault-batch-token", "HashiCorp Vault batch token",
        r"\b(hvb\.[A-Za-z0-9_-]{24,})" + _END, ("hvb.",), "hv" "b." + EX * 18, "hvb.short",
        severity=CRIT,
    ),
    define(
        "vault-legacy-token", "HashiCorp Vault token (pre-1.10 format)",
        r"(?i)vault.{0,40}?\b(s\.[A-Za-z0-9]{24})\b", ("vault",),
        "VAULT_TOKEN=" + "s" "." + EX * 3, "vault: s.short", severity=CRIT,
    ),
    define(
        "terraform-cloud-token", "Terraform Cloud / HCP Terraform API token",
        r"\b([A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=-]{60,70})(?![A-Za-z0-9_=-])", ("atlasv1",),
        "EXAMPLE0EXAMPL" + ".atlas" "v1." + EX * 8, "x.atlasv1.short",
    ),
    define(
        "heroku-api-key", "Heroku API key",
        r"(?i)heroku.{0,40}?\b([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b",
        ("heroku",), "HEROKU" "_API_KEY=" + "01234567-89ab-" "cdef-0123-456789abcdef",
        "HEROKU_APP=example",
    ),
    define(
        "heroku-api-key-v2", "Heroku API key (HRKU format)",
        r"\b(HRKU-[0-9A-Za-z_-]{40,})" + _END, ("hrku-",), "HR" "KU-" + EX * 6, "HRKU-short",
    ),
    define(
        "digitalocean-pat", "DigitalOcean personal access token",
        r"\b(dop_v1_[a-f0-9]{64})\b", ("dop_v1_",), "dop" "_v1_" + HEX * 4, "dop_v1_short",
    ),
    define(
        "digitalocean-oauth-token", "DigitalOcean OAuth access or refresh token",
        r"\b(do[or]_v1_[a-f0-9]{64})\b", ("doo_v1_", "dor_v1_"), "doo" "_v1_" + HEX * 4,
        "doo_v1_short",
    ),
    define(
        "alibaba-access-key-id", "Alibaba Cloud AccessKey ID", r"\b(LTAI[A-Za-z0-9]{20})\b",
        ("ltai",), "LT" "AI" + "EXAMPLE0" * 2 + "EXAM", "LTAIshort", severity=CRIT,
    ),
    define(
        "databricks-token", "Databricks personal access token",
        r"\b(dapi[a-f0-9]{32}(?:-\d)?)\b", ("dapi",), "da" "pi" + HEX * 2, "dapi_version",
    ),
    define(
        "pulumi-token", "Pulumi access token", r"\b(pul-[a-f0-9]{40})\b", ("pul-",),
        "pu" "l-" + HEX * 2 + HEX[:8], "pul-short",
    ),
    define(
        "supabase-token", "Supabase access token", r"\b(sbp_[a-f0-9]{40})\b", ("sbp_",),
        "sb" "p_" + HEX * 2 + HEX[:8], "sbp_short",
    ),
    define(
        "planetscale-token", "PlanetScale service token, password or OAuth token",
        r"\b(pscale_(?:tkn|pw|oauth)_[A-Za-z0-9_.=-]{32,64})(?![A-Za-z0-9_.=-])", ("pscale_",),
        "pscale" "_tkn_" + EX * 5, "pscale_tkn_short",
    ),
    define(
        "circleci-token", "CircleCI personal API token",
        r"\b(CCIPAT_[A-Za-z0-9]{22}_[a-f0-9]{40})\b", ("ccipat_",),
        "CCI" "PAT_" + EX * 2 + "EXAMPL_" + HEX * 2 + HEX[:8], "CCIPAT_short",
    ),
    define(
        "doppler-token", "Doppler token",
        r"\b(dp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,44})\b",
        ("dp.pt.", "dp.st.", "dp.sa.", "dp.ct.", "dp.scim.", "dp.audit."),
        "dp" ".pt." + EX * 5, "dp.pt.short",
    ),
)
# fmt: on
