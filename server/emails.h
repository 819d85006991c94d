#ifndef ACCESSDELEGATION_SERVER_EMAILS_H_
#define ACCESSDELEGATION_SERVER_EMAILS_H_

#include <string>
#include <vector>

#include "storage/store.h"

namespace accessdelegation::server {

// Each function builds the email for one event from the records of the change that
// causes it. Names appear as the people typed them, escaped in the HTML part. Links
// point at the patient portal under `portal_base_url`.

// The invitation to the invitee, with the accept link. The link's token is the
// placeholder storage::kSecretPlaceholder, and `sealed_token` is the token sealed by the
// server's SecretBox: the deliverer puts the token in only when it writes the email.
storage::OutboxEmail InvitationEmail(const storage::EmailContext& context,
                                     const std::string& sealed_token,
                                     const std::string& portal_base_url);

// The request to the owner to confirm or deny, sent when the invitee accepts.
storage::OutboxEmail AcceptedEmail(const storage::EmailContext& context,
                                   const std::string& portal_base_url);

// The notice to the delegate that the owner confirmed.
storage::OutboxEmail ConfirmedEmail(const storage::EmailContext& context,
                                    const std::string& portal_base_url);

// The notice to the invitee that the owner denied.
storage::OutboxEmail DeniedEmail(const storage::EmailContext& context);

// The invitation sent again with a new link, which replaces the earlier one. Tokens as in
// InvitationEmail.
storage::OutboxEmail ResentInvitationEmail(const storage::EmailContext& context,
                                           const std::string& sealed_token,
                                           const std::string& portal_base_url);

// The notice to the owner that wrong passcodes canceled the invitation.
storage::OutboxEmail PasscodeLockedEmail(const storage::EmailContext& context,
                                         const std::string& portal_base_url);

// The notice to the invitee that the owner withdrew the invitation.
storage::OutboxEmail CanceledEmail(const storage::EmailContext& context);

// The notice to the owner that the invitee turned the invitation down.
storage::OutboxEmail DeclinedEmail(const storage::EmailContext& context,
                                   const std::string& portal_base_url);

// The notice to the delegate that the owner changed their grant's level or end. No email
// when neither changed.
std::vector<storage::OutboxEmail> GrantChangedEmails(const storage::GrantEmailContext& context,
                                                     const std::string& portal_base_url);

// The notice to the delegate that the owner removed their access.
std::vector<storage::OutboxEmail> AccessRemovedEmails(const storage::GrantEmailContext& context);

// The notice to the owner that the delegate gave up their access.
std::vector<storage::OutboxEmail> GrantLeftEmails(const storage::GrantEmailContext& context,
                                                  const std::string& portal_base_url);

// The warnings to the owner and the delegate that the grant ends soon.
std::vector<storage::OutboxEmail> GrantExpiringEmails(const storage::GrantEmailContext& context,
                                                      const std::string& portal_base_url);

// The notices to the owner and the delegate that the grant has ended.
std::vector<storage::OutboxEmail> GrantExpiredEmails(const storage::GrantEmailContext& context,
                                                     const std::string& portal_base_url);

// Returns the invitation link for `token` under `portal_base_url`.
std::string InvitationLink(const std::string& portal_base_url, const std::string& token);

}  // namespace accessdelegation::server

#endif  // ACCESSDELEGATION_SERVER_EMAILS_H_
