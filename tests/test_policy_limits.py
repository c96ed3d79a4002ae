"""Size, quota, mailbox location, process and concurrency limits."""

from __future__ import annotations

import pytest

from mailsim.policy import HostPolicy

from test_policy_host import LAN, make_policy


@pytest.fixture
def neo() -> HostPolicy:
    return make_policy()


# -- message_size_limit -------------------------------------------------------------------------
def test_declared_size_over_the_limit_is_refused_at_mail_from(neo: HostPolicy) -> None:
    """smtpd_check_size(): SIZE= above message_size_limit (2000000); log: "NOQUEUE: reject:
    MAIL from ws21.firma1.intr[127.0.0.21]: 552 5.3.4 Message size exceeds fixed limit"."""
    reply = neo.check_mail(LAN, "bob@firma1.intr", 2_600_000)
    assert str(reply) == "552 5.3.4 Message size exceeds fixed limit"
    assert reply.permanent


def test_declared_size_at_the_limit_or_absent_is_accepted(neo: HostPolicy) -> None:
    """Only a size greater than the limit is refused; no SIZE= means unknown size."""
    assert str(neo.check_mail(LAN, "bob@firma1.intr", 2_000_000)) == "250 2.1.0 Ok"
    assert str(neo.check_mail(LAN, "bob@firma1.intr", None)) == "250 2.1.0 Ok"
    assert str(neo.check_mail(LAN, "", None)) == "250 2.1.0 Ok"


def test_bad_sender_syntax_is_refused_before_the_size(neo: HostPolicy) -> None:
    """smtpd.c mail_cmd(): the address is checked before the SIZE= parameter."""
    assert str(neo.check_mail(LAN, "bob@bad..domain", 10**9)) == (
        "501 5.1.7 Bad sender address syntax"
    )


def test_actual_size_over_the_limit_is_refused_after_data(neo: HostPolicy) -> None:
    """cleanup(8) stops at message_size_limit; smtpd answers the end of DATA with the same
    552 5.3.4 (CLEANUP_STAT_SIZE)."""
    assert str(neo.check_data(LAN, 2_000_001)) == "552 5.3.4 Message size exceeds fixed limit"
    assert str(neo.check_data(LAN, 2_000_000)) == "250 2.0.0 Ok"


def test_message_size_limit_zero_means_unlimited() -> None:
    """postconf(5) message_size_limit: 0 disables the limit."""
    policy = make_policy(message_size_limit="0", mailbox_size_limit="0")
    assert policy.check_mail(LAN, "a@b.c", 10**12).ok
    assert policy.check_data(LAN, 10**12).ok


def test_default_message_size_limit_is_10240000() -> None:
    """Postfix 3.x default message_size_limit (the lecture's EHLO shows SIZE 10240000)."""
    base = {"myhostname": "neo.firma1.intr", "mydomain": "firma1.intr"}
    policy = make_policy(base=base)
    assert policy.message_size_limit == 10_240_000
    assert policy.check_data(LAN, 10_240_000).ok and not policy.check_data(LAN, 10_240_001).ok


# -- mailbox_size_limit -------------------------------------------------------------------------
def test_mbox_quota_bounce_has_local_8_text(neo: HostPolicy) -> None:
    """local(8) with mailbox_size_limit = 4000000; log: "to=<erin@firma1.intr>, relay=local,
    ... dsn=5.2.2, status=bounced (cannot update mailbox /var/mail/erin for user erin. error
    writing message: File too large)"."""
    reply = neo.check_quota(3_000_000, 1_200_000, "erin")
    assert (reply.code, reply.dsn) == (552, "5.2.2")
    assert reply.text == (
        "cannot update mailbox /var/mail/erin for user erin. error writing message: File too large"
    )


def test_mbox_quota_boundary(neo: HostPolicy) -> None:
    """The write fails only when the file would grow past the limit (EFBIG)."""
    assert str(neo.check_quota(2_800_000, 1_200_000, "erin")) == "250 2.0.0 Ok"
    assert not neo.check_quota(2_800_001, 1_200_000, "erin").ok


def test_mailbox_size_limit_zero_is_unlimited() -> None:
    """postconf(5) mailbox_size_limit = 0: no limit (lecture ch. 6: "0=neomezeno")."""
    policy = make_policy(mailbox_size_limit="0")
    assert policy.check_quota(10**12, 10**9, "erin").ok


def test_maildir_quota_limits_each_message_file() -> None:
    """postconf(5) mailbox_size_limit limits "any individual mailbox or maildir file": a
    maildir never fills up, only a single message larger than the limit fails."""
    policy = make_policy(mailbox_format="maildir")
    assert policy.check_quota(100_000_000, 1_200_000, "erin").ok
    reply = policy.check_quota(0, 4_000_001, "erin")
    assert str(reply) == (
        "552 5.2.2 maildir delivery failed: error writing message: File too large"
    )


def test_quota_accepts_an_address_as_the_user(neo: HostPolicy) -> None:
    """Engines may pass the mailbox target's value; the local part names the user."""
    assert neo.check_quota(3_000_000, 1_200_000, "erin@firma1.intr").text.startswith(
        "cannot update mailbox /var/mail/erin for user erin."
    )


# -- mailbox location ---------------------------------------------------------------------------
def test_mbox_path_is_in_mail_spool_directory(neo: HostPolicy) -> None:
    """local(8): mbox delivery to $mail_spool_directory/user (default /var/mail)."""
    assert neo.mailbox_path("jura") == "/var/mail/jura"
    lecture = make_policy(mail_spool_directory="/var/spool/mail")
    assert lecture.mailbox_path("jura") == "/var/spool/mail/jura"


def test_maildir_path_is_home_maildir() -> None:
    """home_mailbox = Maildir/ (a trailing / means maildir): ~/Maildir/."""
    assert make_policy(mailbox_format="maildir").mailbox_path("jura") == "/home/jura/Maildir/"
    custom = make_policy(mailbox_format="maildir", home_mailbox="Mail/inbox/")
    assert custom.mailbox_path("jura") == "/home/jura/Mail/inbox/"


def test_mbox_in_home_directory() -> None:
    """home_mailbox = Mailbox (no trailing /): an mbox file in the home directory."""
    assert make_policy(home_mailbox="Mailbox").mailbox_path("jura") == "/home/jura/Mailbox"


# -- process and concurrency limits -------------------------------------------------------------
def test_process_limits_fall_back_to_default_process_limit() -> None:
    """master(5): maxproc "-" is default_process_limit; smtpd_process_limit overrides."""
    policy = make_policy(default_process_limit="50", smtpd_process_limit="7")
    assert policy.process_limit("smtpd") == 7
    assert policy.process_limit("cleanup") == 50
    assert policy.process_limit("local") == 50
    assert policy.process_limit("pop3d") == 50


def test_trivial_rewrite_limit_accepts_both_spellings() -> None:
    """The service is trivial-rewrite, the parameter trivial_rewrite_process_limit."""
    policy = make_policy(trivial_rewrite_process_limit="3")
    assert policy.process_limit("trivial_rewrite") == 3
    assert policy.process_limit("trivial-rewrite") == 3


def test_qmgr_is_a_single_process(neo: HostPolicy) -> None:
    """master.cf runs qmgr (and pickup) with maxproc 1."""
    assert neo.process_limit("qmgr") == 1
    assert neo.process_limit("pickup") == 1


def test_destination_concurrency_limits() -> None:
    """qmgr(8): <transport>_destination_concurrency_limit, else the default one (20);
    local_destination_concurrency_limit defaults to 2."""
    policy = make_policy(default_destination_concurrency_limit="10")
    assert policy.destination_concurrency_limit("smtp") == 10
    assert policy.destination_concurrency_limit("local") == 2
    assert policy.destination_concurrency_limit("relay") == 10
    assert make_policy().destination_concurrency_limit("smtp") == 20
