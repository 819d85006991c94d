#include "server/emails.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "server/permissions.h"
#include "server/secrets.h"

namespace accessdelegation::server {
namespace {

std::string FullName(const std::string& first, const std::string& last) {
  return absl::StrCat(first, " ", last);
}

std::string EscapeHtml(const std::string& text) {
  return absl::StrReplaceAll(text, {{"&", "&amp;"},
                                    {"<", "&lt;"},
                                    {">", "&gt;"},
                                    {"\"", "&quot;"},
                                    {"'", "&#39;"}});
}

std::string FormatUtc(absl::Time time) {
  return absl::FormatTime("%Y-%m-%d %H:%M UTC", time, absl::UTCTimeZone());
}

std::string LevelDescription(v1::AccessLevel level) {
  if (level == v1::ACCESS_LEVEL_FULL) {
    return "Full access: everything the account holder can see and do in the portal, except "
           "managing who has access";
  }
  return "Appointments only: viewing and scheduling appointments";
}

std::string PortalUrl(const std::string& portal_base_url, const std::string& path) {
  return absl::StrCat(absl::StripSuffix(portal_base_url, "/"), path);
}

// Wraps paragraphs of plain text in a minimal HTML document, escaping each one.
std::string HtmlDocument(std::initializer_list<std::string> paragraphs, const std::string& link,
                         const std::string& link_text) {
  std::string html = "<!DOCTYPE html>\n<html><body>\n";
  for (const std::string& paragraph : paragraphs) {
    absl::StrAppend(&html, "<p>", EscapeHtml(paragraph), "</p>\n");
  }
  if (!link.empty()) {
    absl::StrAppend(&html, "<p><a href=\"", EscapeHtml(link), "\">", EscapeHtml(link_text),
                    "</a></p>\n");
  }
  absl::StrAppend(&html, "</body></html>\n");
  return html;
}

storage::OutboxEmail NewEmail(const std::string& recipient, std::string subject) {
  storage::OutboxEmail email;
  email.message_id = NewUuid();
  email.recipient = recipient;
  email.subject = std::move(subject);
  return email;
}

}  // namespace

std::string InvitationLink(const std::string& portal_base_url, const std::string& token) {
  return PortalUrl(portal_base_url, absl::StrCat("/invitations/accept?token=", token));
}

namespace {

// Builds the invitation email; `resent` adds that the link replaces an earlier one.
storage::OutboxEmail BuildInvitationEmail(const storage::EmailContext& context,
                                          const std::string& sealed_token,
                                          const std::string& portal_base_url, bool resent) {
  const storage::InvitationRecord& invitation = context.invitation;
  const std::string owner = FullName(context.owner.first_name, context.owner.last_name);
  const std::string link = InvitationLink(portal_base_url, storage::kSecretPlaceholder);
  storage::OutboxEmail email = NewEmail(
      invitation.email, absl::StrCat(resent ? "Reminder: " : "", owner,
                                     " invited you to their patient portal account"));
  email.sealed_secret = sealed_token;

  const std::string greeting = absl::StrCat("Hello ", invitation.first_name, ",");
  std::string offer =
      absl::StrCat(owner, " invited you to help manage their patient portal account with ",
                   LevelDescription(invitation.access_level), ".");
  if (resent) {
    absl::StrAppend(&offer, " ", owner,
                    " sent this invitation again: the link below replaces the one in the "
                    "earlier email, which no longer works.");
  }
  const std::string next =
      "To accept, open the link below, create your account or sign in with this email "
      "address, and accept the invitation. " +
      owner + " then confirms before your access starts. You can also decline it there.";
  const std::string expiry =
      absl::StrCat("The link works once and expires on ", FormatUtc(invitation.expire_time),
                   ". If you did not expect this invitation, ignore this email.");
  email.body_text = absl::StrCat(greeting, "\n\n", offer, "\n\n", next, "\n\nAccept invitation: ",
                                 link, "\n\n", expiry, "\n");
  email.body_html = HtmlDocument({greeting, offer, next, expiry}, link, "Accept invitation");
  return email;
}

// Builds a plain notice: a greeting, the event, what to do next and an optional link.
storage::OutboxEmail BuildNotice(const std::string& recipient, const std::string& first_name,
                                 std::string subject, const std::string& event,
                                 const std::string& next, const std::string& link,
                                 const std::string& link_text) {
  storage::OutboxEmail email = NewEmail(recipient, std::move(subject));
  const std::string greeting = absl::StrCat("Hello ", first_name, ",");
  email.body_text = absl::StrCat(greeting, "\n\n", event, "\n\n", next, "\n");
  if (!link.empty()) absl::StrAppend(&email.body_text, "\n", link_text, ": ", link, "\n");
  email.body_html = HtmlDocument({greeting, event, next}, link, link_text);
  return email;
}

std::string GrantEndText(const storage::GrantRecord& grant) {
  if (!grant.expire_time.has_value()) return "It has no end date.";
  return absl::StrCat("It ends on ", FormatUtc(*grant.expire_time), ".");
}

}  // namespace

storage::OutboxEmail InvitationEmail(const storage::EmailContext& context,
                                     const std::string& sealed_token,
                                     const std::string& portal_base_url) {
  return BuildInvitationEmail(context, sealed_token, portal_base_url, /*resent=*/false);
}

storage::OutboxEmail ResentInvitationEmail(const storage::EmailContext& context,
                                           const std::string& sealed_token,
                                           const std::string& portal_base_url) {
  return BuildInvitationEmail(context, sealed_token, portal_base_url, /*resent=*/true);
}

storage::OutboxEmail AcceptedEmail(const storage::EmailContext& context,
                                   const std::string& portal_base_url) {
  const storage::InvitationRecord& invitation = context.invitation;
  const std::string invitee = FullName(invitation.first_name, invitation.last_name);
  const std::string link = PortalUrl(portal_base_url, "/access/invitations");
  storage::OutboxEmail email = NewEmail(
      context.owner.email, absl::StrCat(invitee, " accepted your invitation: please confirm"));

  const std::string greeting = absl::StrCat("Hello ", context.owner.first_name, ",");
  const std::string event =
      absl::StrCat(invitee, " (", invitation.email, ") accepted your invitation for ",
                   AccessLevelDisplayName(invitation.access_level), ".");
  const std::string next =
      "Their access starts only when you confirm. Sign in to the portal to confirm or deny. "
      "If you did not send this invitation, deny it.";
  email.body_text =
      absl::StrCat(greeting, "\n\n", event, "\n\n", next, "\n\nReview invitations: ", link, "\n");
  email.body_html = HtmlDocument({greeting, event, next}, link, "Review invitations");
  return email;
}

storage::OutboxEmail ConfirmedEmail(const storage::EmailContext& context,
                                    const std::string& portal_base_url) {
  const storage::InvitationRecord& invitation = context.invitation;
  const std::string owner = FullName(context.owner.first_name, context.owner.last_name);
  const std::string link = PortalUrl(portal_base_url, "/");
  storage::OutboxEmail email =
      NewEmail(invitation.email, absl::StrCat(owner, " confirmed your access"));

  const std::string greeting = absl::StrCat("Hello ", invitation.first_name, ",");
  const std::string event = absl::StrCat(owner, " confirmed your access to their account: ",
                                         LevelDescription(invitation.access_level), ".");
  const std::string next = "Sign in to the portal to use it.";
  email.body_text =
      absl::StrCat(greeting, "\n\n", event, "\n\n", next, "\n\nOpen the portal: ", link, "\n");
  email.body_html = HtmlDocument({greeting, event, next}, link, "Open the portal");
  return email;
}

storage::OutboxEmail DeniedEmail(const storage::EmailContext& context) {
  const storage::InvitationRecord& invitation = context.invitation;
  const std::string owner = FullName(context.owner.first_name, context.owner.last_name);
  storage::OutboxEmail email =
      NewEmail(invitation.email, absl::StrCat(owner, " did not confirm your access"));

  const std::string greeting = absl::StrCat("Hello ", invitation.first_name, ",");
  const std::string event =
      absl::StrCat(owner, " did not confirm the invitation you accepted, so you have no "
                          "access to their account.");
  const std::string next = absl::StrCat("If you think this is a mistake, contact ", owner,
                                        " directly.");
  email.body_text = absl::StrCat(greeting, "\n\n", event, "\n\n", next, "\n");
  email.body_html = HtmlDocument({greeting, event, next}, "", "");
  return email;
}

storage::OutboxEmail CanceledEmail(const storage::EmailContext& context) {
  const storage::InvitationRecord& invitation = context.invitation;
  const std::string owner = FullName(context.owner.first_name, context.owner.last_name);
  return BuildNotice(
      invitation.email, invitation.first_name,
      absl::StrCat(owner, " withdrew their invitation"),
      absl::StrCat(owner, " withdrew the invitation to their patient portal account. The link ",
                   "in the invitation email no longer works, and you have no access."),
      absl::StrCat("Nothing more is needed. If you think this is a mistake, contact ", owner,
                   " directly."),
      "", "");
}

storage::OutboxEmail PasscodeLockedEmail(const storage::EmailContext& context,
                                         const std::string& portal_base_url) {
  const storage::InvitationRecord& invitation = context.invitation;
  const std::string invitee = FullName(invitation.first_name, invitation.last_name);
  return BuildNotice(
      context.owner.email, context.owner.first_name,
      absl::StrCat("Your invitation to ", invitee, " was canceled after wrong passcodes"),
      absl::StrCat("Someone with the link of your invitation to ", invitee, " (", invitation.email,
                   ") entered a wrong passcode three times, so the invitation ",
                   "was canceled and its link no longer works. Nobody got access."),
      absl::StrCat("If ", invitation.first_name, " mistyped it, send a new invitation and tell ",
                   "them the passcode again in person or by phone. If not, someone else may ",
                   "have read the invitation email."),
      PortalUrl(portal_base_url, "/access/invitations"), "Review invitations");
}

storage::OutboxEmail DeclinedEmail(const storage::EmailContext& context,
                                   const std::string& portal_base_url) {
  const storage::InvitationRecord& invitation = context.invitation;
  const std::string invitee = FullName(invitation.first_name, invitation.last_name);
  return BuildNotice(
      context.owner.email, context.owner.first_name,
      absl::StrCat(invitee, " declined your invitation"),
      absl::StrCat(invitee, " (", invitation.email, ") declined your invitation for ",
                   AccessLevelDisplayName(invitation.access_level), ". They have no access."),
      "You can send a new invitation from the portal if they change their mind.",
      PortalUrl(portal_base_url, "/access/invitations"), "Review invitations");
}

std::vector<storage::OutboxEmail> GrantChangedEmails(const storage::GrantEmailContext& context,
                                                     const std::string& portal_base_url) {
  const storage::GrantRecord& grant = context.grant;
  const std::string owner = FullName(context.owner.first_name, context.owner.last_name);
  return {BuildNotice(
      context.delegate.email, context.delegate.first_name,
      absl::StrCat(owner, " changed your access"),
      absl::StrCat(owner, " changed your access to their account. It is now ",
                   LevelDescription(grant.access_level), ". ", GrantEndText(grant)),
      "The change applies from now on. Sign in to the portal to see what you can do.",
      PortalUrl(portal_base_url, "/"), "Open the portal")};
}

std::vector<storage::OutboxEmail> AccessRemovedEmails(const storage::GrantEmailContext& context) {
  const std::string owner = FullName(context.owner.first_name, context.owner.last_name);
  return {BuildNotice(
      context.delegate.email, context.delegate.first_name,
      absl::StrCat(owner, " removed your access"),
      absl::StrCat(owner, " removed your access to their patient portal account. You can no ",
                   "longer see or do anything on their behalf."),
      absl::StrCat("If you think this is a mistake, contact ", owner, " directly."), "", "")};
}

std::vector<storage::OutboxEmail> GrantLeftEmails(const storage::GrantEmailContext& context,
                                                  const std::string& portal_base_url) {
  const std::string delegate = FullName(context.delegate.first_name, context.delegate.last_name);
  return {BuildNotice(
      context.owner.email, context.owner.first_name,
      absl::StrCat(delegate, " gave up access to your account"),
      absl::StrCat(delegate, " (", context.delegate.email, ") gave up their ",
                   AccessLevelDisplayName(context.grant.access_level),
                   " access to your patient portal account. They can no longer act for you."),
      "Nothing more is needed. You can invite them again from the portal.",
      PortalUrl(portal_base_url, "/access"), "Manage access")};
}

std::vector<storage::OutboxEmail> GrantExpiringEmails(const storage::GrantEmailContext& context,
                                                      const std::string& portal_base_url) {
  const storage::GrantRecord& grant = context.grant;
  const std::string owner = FullName(context.owner.first_name, context.owner.last_name);
  const std::string delegate = FullName(context.delegate.first_name, context.delegate.last_name);
  const std::string end = grant.expire_time.has_value() ? FormatUtc(*grant.expire_time) : "";
  return {
      BuildNotice(context.owner.email, context.owner.first_name,
                  absl::StrCat(delegate, "'s access to your account ends soon"),
                  absl::StrCat(delegate, "'s ", AccessLevelDisplayName(grant.access_level),
                               " access to your account ends on ", end, "."),
                  "To keep it, change or remove the end date in the portal before then.",
                  PortalUrl(portal_base_url, "/access"), "Manage access"),
      BuildNotice(context.delegate.email, context.delegate.first_name,
                  absl::StrCat("Your access to ", owner, "'s account ends soon"),
                  absl::StrCat("Your ", AccessLevelDisplayName(grant.access_level), " access to ",
                               owner, "'s account ends on ", end, "."),
                  absl::StrCat("If you still need it, ask ", owner,
                               " to extend it before then."),
                  "", "")};
}

std::vector<storage::OutboxEmail> GrantExpiredEmails(const storage::GrantEmailContext& context,
                                                     const std::string& portal_base_url) {
  const storage::GrantRecord& grant = context.grant;
  const std::string owner = FullName(context.owner.first_name, context.owner.last_name);
  const std::string delegate = FullName(context.delegate.first_name, context.delegate.last_name);
  return {
      BuildNotice(context.owner.email, context.owner.first_name,
                  absl::StrCat(delegate, "'s access to your account has ended"),
                  absl::StrCat(delegate, "'s ", AccessLevelDisplayName(grant.access_level),
                               " access to your account reached its end date and has ended."),
                  "To give them access again, send a new invitation from the portal.",
                  PortalUrl(portal_base_url, "/access"), "Manage access"),
      BuildNotice(context.delegate.email, context.delegate.first_name,
                  absl::StrCat("Your access to ", owner, "'s account has ended"),
                  absl::StrCat("Your ", AccessLevelDisplayName(grant.access_level), " access to ",
                               owner, "'s account reached its end date and has ended."),
                  absl::StrCat("If you still need it, ask ", owner, " to invite you again."), "",
                  "")};
}

}  // namespace accessdelegation::server
