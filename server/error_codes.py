"""Every stable error code, its HTTP status and its title in zh-CN and English.

One table so translators and client authors have one place to read. Codes are ``area.reason``;
never change or reuse a published code.
"""

from __future__ import annotations

from typing import NamedTuple


class ErrorSpec(NamedTuple):
    status: int
    zh: str
    en: str


CATALOGUE: dict[str, ErrorSpec] = {
    # --- requests ---------------------------------------------------------------------------
    "request.bad_request": ErrorSpec(400, "请求无法处理", "Bad request"),
    "request.malformed_json": ErrorSpec(
        400, "请求内容不是有效的 JSON", "Request body is not valid JSON"
    ),
    "request.not_found": ErrorSpec(404, "找不到请求的资源", "Not found"),
    "request.method_not_allowed": ErrorSpec(405, "不支持该请求方法", "Method not allowed"),
    "request.too_large": ErrorSpec(413, "请求内容过大", "Request body too large"),
    "request.unsupported_media_type": ErrorSpec(
        415,
        "请求内容类型不受支持，请使用 application/json",
        "Unsupported media type; send application/json",
    ),
    "request.validation_failed": ErrorSpec(422, "请求数据有误", "Request data is invalid"),
    "request.rate_limited": ErrorSpec(
        429, "请求过于频繁，请稍后再试", "Too many requests; try again later"
    ),
    "request.idempotency_conflict": ErrorSpec(
        409, "同一幂等键已用于不同的请求", "Idempotency key already used for a different request"
    ),
    "server.internal_error": ErrorSpec(500, "系统内部错误", "Internal server error"),
    # --- authentication and authorization ---------------------------------------------------
    "auth.unauthenticated": ErrorSpec(401, "请先登录", "Authentication required"),
    "auth.invalid_token": ErrorSpec(401, "登录凭证无效或已过期", "Invalid or expired credentials"),
    "auth.invalid_credentials": ErrorSpec(401, "用户名或密码错误", "Wrong username or password"),
    "auth.totp_required": ErrorSpec(401, "请输入动态验证码", "One-time code required"),
    "auth.totp_incorrect": ErrorSpec(401, "动态验证码错误", "Wrong one-time code"),
    "auth.account_disabled": ErrorSpec(403, "账号已停用", "Account disabled"),
    "auth.account_locked": ErrorSpec(
        423, "账号已锁定，请联系管理员", "Account locked; contact an administrator"
    ),
    "auth.forbidden": ErrorSpec(403, "没有执行此操作的权限", "Not permitted"),
    "auth.out_of_scope": ErrorSpec(403, "该数据不在您的管辖范围内", "Outside your data scope"),
    "auth.totp_not_enrolled": ErrorSpec(409, "尚未绑定动态验证码", "One-time code not enrolled"),
    "auth.totp_already_enrolled": ErrorSpec(
        409, "已绑定动态验证码", "One-time code already enrolled"
    ),
    "auth.username_taken": ErrorSpec(409, "用户名已存在", "Username already taken"),
    "auth.weak_password": ErrorSpec(422, "密码强度不足", "Password too weak"),
    # --- registry -----------------------------------------------------------------------------
    "person.invalid_id_number": ErrorSpec(422, "证件号码无效", "Invalid identity document number"),
    "person.already_registered": ErrorSpec(
        409, "该证件号码已登记", "Identity number already registered"
    ),
    "person.not_found": ErrorSpec(404, "找不到该人员", "Person not found"),
    "person.invalid_phone": ErrorSpec(422, "手机号码无效", "Invalid mobile phone number"),
    "person.deceased": ErrorSpec(409, "该人员已登记死亡", "Person is recorded as deceased"),
    "person.birth_date_mismatch": ErrorSpec(
        422, "出生日期与证件号码不一致", "Birth date does not match the identity number"
    ),
    "city.unknown": ErrorSpec(422, "未知的城市代码", "Unknown city code"),
    "card.not_found": ErrorSpec(404, "找不到该社保卡", "Card not found"),
    "card.one_person_one_card": ErrorSpec(
        409,
        "该人员已有一张可用的社保卡（一人一卡）",
        "Person already has a usable card (one person, one card)",
    ),
    "card.invalid_transition": ErrorSpec(
        409, "社保卡当前状态不允许该操作", "Card state does not allow this"
    ),
    "card.not_active": ErrorSpec(409, "社保卡未处于正常使用状态", "Card is not active"),
    "card.pin_incorrect": ErrorSpec(403, "密码错误", "Wrong PIN"),
    "card.pin_locked": ErrorSpec(
        423, "密码已锁定，请到网点重置", "PIN locked; ask staff to reset it"
    ),
    "card.pin_weak": ErrorSpec(422, "密码过于简单，请换一个", "PIN too simple; choose another"),
    "card.pin_not_set": ErrorSpec(409, "尚未设置密码", "PIN not set"),
    "card.reason_required": ErrorSpec(422, "请填写原因", "A reason is required"),
    "card.approval_required": ErrorSpec(
        403, "解除封存需要另一名管理员审批", "Unsealing needs approval by another administrator"
    ),
    "card.serial_taken": ErrorSpec(409, "卡号已存在", "Card serial already exists"),
    "bank.invalid_account": ErrorSpec(422, "银行账号无效", "Invalid bank account number"),
    # --- ledger -----------------------------------------------------------------------------
    "ledger.unbalanced": ErrorSpec(422, "记账分录借贷不平衡", "Journal entry does not balance"),
    "ledger.account_not_found": ErrorSpec(404, "找不到该账户", "Account not found"),
    "ledger.insufficient_funds": ErrorSpec(409, "账户余额不足", "Insufficient funds"),
    "ledger.account_closed": ErrorSpec(409, "账户已关闭", "Account closed"),
    "ledger.currency_mismatch": ErrorSpec(422, "币种不一致", "Currency mismatch"),
    "ledger.invalid_amount": ErrorSpec(422, "金额无效", "Invalid amount"),
    "ledger.idempotency_conflict": ErrorSpec(
        409, "同一幂等键已用于不同的记账", "Idempotency key already used for a different entry"
    ),
    "ledger.account_frozen": ErrorSpec(409, "账户已冻结", "Account frozen"),
    "ledger.invalid_entry": ErrorSpec(422, "记账分录无效", "Invalid journal entry"),
    "ledger.invalid_status_change": ErrorSpec(
        409, "账户当前状态不允许该操作", "Account status does not allow this change"
    ),
    "ledger.balance_not_zero": ErrorSpec(
        409, "账户余额不为零，不能关闭", "Account balance is not zero; it cannot be closed"
    ),
    "bank.timeout": ErrorSpec(504, "银行系统响应超时", "Bank timed out"),
    "bank.account_closed": ErrorSpec(409, "银行账户已销户", "Bank account closed"),
    "bank.account_frozen": ErrorSpec(409, "银行账户已冻结", "Bank account frozen"),
    "bank.insufficient_funds": ErrorSpec(409, "银行账户余额不足", "Insufficient funds at the bank"),
    "bank.idempotency_conflict": ErrorSpec(
        409, "同一幂等键已用于不同的银行请求", "Idempotency key reused for another bank request"
    ),
    # --- credentials (QR codes, e-card) --------------------------------------------------------
    "credential.malformed": ErrorSpec(422, "无法识别的二维码", "Unreadable code"),
    "credential.unknown_issuer": ErrorSpec(
        403, "二维码签发方不受信任", "Code from an unknown issuer"
    ),
    "credential.bad_issuer_signature": ErrorSpec(403, "二维码证书签名无效", "Invalid certificate"),
    "credential.certificate_expired": ErrorSpec(
        403, "电子社保卡证书已过期，请联网刷新", "Certificate expired; go online to renew it"
    ),
    "credential.revoked": ErrorSpec(
        403,
        "该卡已挂失、封存、注销或因欠费暂停使用",
        "Card reported lost, sealed, closed or stopped for unpaid fares",
    ),
    "credential.bad_device_signature": ErrorSpec(403, "二维码签名无效", "Invalid code signature"),
    "credential.expired": ErrorSpec(403, "二维码已过期，请刷新", "Code expired; refresh it"),
    "credential.not_yet_valid": ErrorSpec(
        403, "二维码时间有误，请校准手机时间", "Code time is in the future; check the phone's clock"
    ),
    "credential.wrong_scene": ErrorSpec(
        403, "该二维码不能在此处使用", "Code not valid at this place"
    ),
    "credential.replayed": ErrorSpec(409, "该二维码已被使用", "Code already used"),
    "credential.fallback_incorrect": ErrorSpec(
        403, "数字码错误或已过期", "Wrong or expired number code"
    ),
    "ecard.too_many_channels": ErrorSpec(
        409, "最多可在 3 个应用中签发电子社保卡", "At most 3 apps may hold the e-card"
    ),
    "ecard.invalid_public_key": ErrorSpec(422, "设备公钥无效", "Invalid device public key"),
    "ecard.channel_not_found": ErrorSpec(404, "找不到该签发渠道", "E-card channel not found"),
    "ecard.channel_revoked": ErrorSpec(409, "该签发渠道已注销", "E-card channel revoked"),
    "ecard.no_card": ErrorSpec(409, "您还没有可用的社保卡", "You have no usable card"),
    "issuer.key_not_found": ErrorSpec(404, "找不到该签发密钥", "Issuer key not found"),
    # --- cardholder sign-in ---------------------------------------------------------------------
    "sms.too_soon": ErrorSpec(
        429, "验证码发送过于频繁，请稍后再试", "A code was sent just now; wait before asking again"
    ),
    "sms.code_incorrect": ErrorSpec(401, "验证码错误", "Wrong verification code"),
    "sms.code_expired": ErrorSpec(
        401, "验证码已失效，请重新获取", "Verification code expired or used; request a new one"
    ),
    "sms.code_locked": ErrorSpec(
        423, "验证码错误次数过多，请重新获取", "Too many wrong tries; request a new code"
    ),
    "auth.real_name_required": ErrorSpec(
        422,
        "首次登录请填写证件号码和姓名完成实名验证",
        "First sign-in on this phone: give your ID number and name for the real-name check",
    ),
    "auth.real_name_mismatch": ErrorSpec(
        403, "证件号码与姓名不匹配", "ID number and name do not match our records"
    ),
    "auth.no_usable_card": ErrorSpec(
        403,
        "您名下没有可用的社保卡，请到网点办理",
        "No usable social security card; visit a branch",
    ),
    # --- terminals -------------------------------------------------------------------------------
    "terminal.unauthenticated": ErrorSpec(
        401, "缺少终端签名或签名格式有误", "Terminal request signature missing or malformed"
    ),
    "terminal.unknown": ErrorSpec(401, "未登记的终端", "Unknown terminal"),
    "terminal.disabled": ErrorSpec(403, "终端已停用", "Terminal disabled"),
    "terminal.bad_signature": ErrorSpec(401, "终端请求签名无效", "Invalid terminal signature"),
    "terminal.stale_timestamp": ErrorSpec(
        401, "终端时间偏差过大，请校准时钟", "Request time out of range; check the terminal clock"
    ),
    "terminal.nonce_reused": ErrorSpec(
        401, "重复的终端请求", "Repeated terminal request (nonce already used)"
    ),
    "terminal.scene_not_allowed": ErrorSpec(
        403, "该终端不能用于此场景", "This terminal does not serve that scene"
    ),
    "terminal.not_found": ErrorSpec(404, "找不到该终端", "Terminal not found"),
    "terminal.code_taken": ErrorSpec(409, "终端编号已存在", "Terminal code already registered"),
    "terminal.invalid_transition": ErrorSpec(
        409, "终端当前状态不允许该操作", "Terminal status does not allow this"
    ),
    # --- transit taps ----------------------------------------------------------------------------
    "transit.not_placed": ErrorSpec(
        409, "该终端尚未登记安装线网和站点", "Terminal has no placement (network, stop)"
    ),
    "transit.wrong_station": ErrorSpec(
        409, "刷卡站点与终端所在站点不符", "Tap at a station that is not the terminal's"
    ),
    "transit.kind_not_allowed": ErrorSpec(
        422, "该终端不受理此类刷卡", "This terminal does not take this kind of tap"
    ),
    "transit.already_inside": ErrorSpec(
        409, "已进站，请勿重复进站", "Already inside: entered a few minutes ago"
    ),
    "transit.amount_required": ErrorSpec(
        422, "请提供计价器金额", "The metered amount (amount_fen) is required"
    ),
    "transit.amount_over_cap": ErrorSpec(
        403, "金额超过单笔免密限额", "Amount over the per-use cap of the code"
    ),
    "transit.tap_in_future": ErrorSpec(
        422, "刷卡时间晚于当前时间，请校准终端时钟", "Tap time is in the future; check the clock"
    ),
    "transit.no_card": ErrorSpec(409, "该二维码没有对应的社保卡", "No card behind this code"),
    "chip.unknown_card": ErrorSpec(404, "无法识别的社保卡", "Unknown card"),
    "chip.bad_mac": ErrorSpec(403, "卡片认证失败", "Card authentication failed"),
    "chip.counter_replayed": ErrorSpec(
        409, "卡片交易计数器异常（疑似复制卡）", "Card counter did not grow (cloned card?)"
    ),
    # --- transit payment ---
    "transit.trip_not_found": ErrorSpec(404, "找不到该行程", "Trip not found"),
    "transit.collection_in_progress": ErrorSpec(
        409,
        "该笔车费刚刚向银行发起扣款，稍后再试",
        "The bank was asked for this fare moments ago; try again later",
    ),
    "transit.no_debt": ErrorSpec(409, "您没有未还的乘车欠款", "You have no unpaid transit fares"),
    "transit.repayment_in_progress": ErrorSpec(
        409,
        "您的还款正在银行处理中，请几分钟后再查看",
        "Your repayment is being processed by the bank; check again in a few minutes",
    ),
    "transit.refund_in_progress": ErrorSpec(
        409,
        "该笔退款刚刚向银行发起，稍后再试",
        "The bank was asked for this refund moments ago; try again later",
    ),
    # --- transit fares ---
    "transit.fare_data_invalid": ErrorSpec(
        422, "票价数据有误，未导入任何数据", "Fare data is invalid; nothing was imported"
    ),
    "transit.unknown_network": ErrorSpec(
        422, "票价数据中没有该线网", "Network not in the fare data"
    ),
    "transit.unknown_stop": ErrorSpec(422, "票价数据中没有该站点", "Stop not in the fare data"),
    "transit.no_fare_rule": ErrorSpec(
        422, "没有适用于该行程的票价规则", "No fare rule for this ride"
    ),
    "transit.invalid_leg": ErrorSpec(
        422, "行程数据不完整，无法计价", "Ride data incomplete; cannot price it"
    ),
    # --- kiosk: card challenges, self-service activation, help requests -----------------------
    "chip.challenge_unknown": ErrorSpec(
        404, "卡片认证挑战无效，请重新刷卡", "Unknown card challenge; tap the card again"
    ),
    "chip.challenge_expired": ErrorSpec(
        409, "卡片认证已超时，请重新刷卡", "Card challenge expired; tap the card again"
    ),
    "chip.challenge_used": ErrorSpec(
        409, "卡片认证挑战已使用，请重新刷卡", "Card challenge already used; tap the card again"
    ),
    "activation.unknown": ErrorSpec(
        404, "找不到该激活流程，请重新开始", "Activation not found; start again"
    ),
    "activation.expired": ErrorSpec(
        410, "激活已超时，请重新刷卡开始", "Activation timed out; tap the card to start again"
    ),
    "activation.finished": ErrorSpec(409, "该激活流程已结束", "This activation has finished"),
    "activation.already_active": ErrorSpec(
        409, "这张卡已经激活，可以直接使用", "This card is already active and ready to use"
    ),
    "activation.identity_required": ErrorSpec(
        409, "请先核对身份证号码后六位", "Confirm the last 6 characters of the ID number first"
    ),
    "activation.identity_mismatch": ErrorSpec(
        422, "身份证号码后六位不正确", "The last 6 characters of the ID number do not match"
    ),
    "activation.pin_mismatch": ErrorSpec(
        422, "两次输入的密码不一致", "The two PINs are not the same"
    ),
    "help.not_found": ErrorSpec(404, "找不到该求助", "Help request not found"),
    "help.already_claimed": ErrorSpec(
        409, "该求助已由其他工作人员接单", "Another staff member has taken this request"
    ),
    "help.closed": ErrorSpec(409, "该求助已处理完毕", "This help request is closed"),
    # --- entrances (museums, libraries, scenic spots) -----------------------------------------
    "entrance.not_found": ErrorSpec(404, "找不到该入口", "Entrance not found"),
    "entrance.code_taken": ErrorSpec(409, "入口编号已存在", "Entrance code already registered"),
    "entry.unknown_entrance": ErrorSpec(404, "未登记的入口", "Unknown entrance"),
    "entry.terminal_not_at_entrance": ErrorSpec(
        403, "该终端不在此入口", "This terminal is not at that entrance"
    ),
    "entry.closed": ErrorSpec(409, "现在不在开放时间内", "Closed at this time"),
    "entry.no_card": ErrorSpec(409, "该二维码没有对应的社保卡", "No card behind this code"),
    # --- door-to-door issuance (上门办卡) -----------------------------------------------------
    "doorstep.not_found": ErrorSpec(404, "找不到该上门办卡申请", "Door-to-door request not found"),
    "doorstep.not_eligible": ErrorSpec(
        422,
        "不符合上门办卡条件（需年满 80 周岁、残疾或患病卧床）",
        "Not eligible for door-to-door issuance (aged 80+, disabled, or ill)",
    ),
    "doorstep.already_requested": ErrorSpec(
        409, "该人员已有尚未办结的上门办卡申请", "This person already has an open request"
    ),
    "doorstep.name_mismatch": ErrorSpec(
        422, "姓名与证件号码登记信息不符", "Name does not match the registered ID number"
    ),
    "doorstep.invalid_transition": ErrorSpec(
        409, "该申请当前状态不允许此操作", "The request's status does not allow this"
    ),
    "doorstep.already_assigned": ErrorSpec(
        409, "该申请已派给其他工作人员", "The request is already assigned"
    ),
    "doorstep.invalid_assignee": ErrorSpec(
        422,
        "只能派给本市在岗的网点工作人员",
        "Assign to an active branch staff user of the request's city",
    ),
    "doorstep.invalid_window": ErrorSpec(422, "预约上门时间段无效", "Invalid planned visit window"),
    "doorstep.illness_unconfirmed": ErrorSpec(
        422,
        "仅以患病为由申请的，派单时须由工作人员确认病情",
        "Illness is the only reason: staff must confirm it when assigning",
    ),
    "doorstep.not_assignee": ErrorSpec(
        403, "只有被派单的工作人员或市级管理员可以办理", "Only the assigned staff user may do this"
    ),
    "doorstep.card_of_another_person": ErrorSpec(
        422, "该社保卡不属于申请人", "The card belongs to another person"
    ),
    "doorstep.card_predates_request": ErrorSpec(
        422,
        "该社保卡不是本次上门办理的新卡",
        "The card was issued before the request, not at the visit",
    ),
    "doorstep.note_rejected": ErrorSpec(
        422,
        "备注过长或含有证件号、手机号等个人信息",
        "Note too long or holds personal numbers",
    ),
    # --- entrance administration and door-to-door visit times -----------------------------
    "entrance.terminal_not_attached": ErrorSpec(
        404, "该终端不在此入口", "That terminal is not attached to this entrance"
    ),
    "doorstep.invalid_visit_time": ErrorSpec(
        422,
        "上门时间无效：不能晚于现在，也不能早于申请时间",
        "Invalid visit time: not in the future, not before the request",
    ),
}
