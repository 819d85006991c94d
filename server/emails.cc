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

storage::OutboxEmail InvitationEmail(const storage::EmailContext& context,
                                     const std::string& sealed_token,
                                     const std::string& portal_base_url) {
  const storage::InvitationRecord& invitation = context.invitation;
  const std::string owner = FullName(context.owner.first_name, context.owner.last_name);
  const std::string link = InvitationLink(portal_base_url, storage::kSecretPlaceholder);
  storage::OutboxEmail email = NewEmail(
      invitation.email, absl::StrCat(owner, " invited you to their patient portal account"));
  email.sealed_secret = sealed_token;

  const std::string greeting = absl::StrCat("Hello ", invitation.first_name, ",");
  const std::string offer =
      absl::StrCat(owner, " invited you to help manage their patient portal account with ",
                   LevelDescription(invitation.access_level), ".");
  const std::string next =
      "To accept, open the link below, create your account or sign in with this email "
      "address, and accept the invitation. " +
      owner + " then confirms before your access starts.";
  const std::string expiry =
      absl::StrCat("The link works once and expires on ", FormatUtc(invitation.expire_time),
                   ". If you did not expect this invitation, ignore this email.");
  email.body_text = absl::StrCat(greeting, "\n\n", offer, "\n\n", next, "\n\nAccept invitation: ",
                                 link, "\n\n", expiry, "\n");
  email.body_html = HtmlDocument({greeting, offer, next, expiry}, link, "Accept invitation");
  return email;
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

}  // namespace accessdelegation::server
