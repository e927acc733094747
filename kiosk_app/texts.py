"""Every string the kiosk shows or reads aloud: Chinese (zh-CN) first, English second.

``tr(key, lang, **values)`` formats one entry. ``explain(code, extra, lang)`` turns a server code
(or a kiosk-side one such as ``server.unreachable``) into plain words: what happened and what to
do next — never the code itself.
"""

from __future__ import annotations

import re
from typing import Any

from kiosk_app.controllers.times import format_moment

LANGS = ("zh", "en")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")

TEXTS: dict[str, tuple[str, str]] = {
    # --- common ------------------------------------------------------------------------------
    "app.title": ("社保卡一卡通 自助服务", "Social Security Card self-service"),
    "common.home": ("返回首页", "Back to start"),
    "common.back": ("上一步", "Back"),
    "common.retry": ("再试一次", "Try again"),
    "common.call_staff": ("呼叫工作人员", "Call staff"),
    "common.working": ("正在处理，请稍候……", "Working on it, please wait…"),
    "common.ok": ("好的", "OK"),
    "common.delete": ("删除", "Delete"),
    "common.confirm": ("确定", "Confirm"),
    "common.next": ("下一步", "Next"),
    "lang.switch": ("English", "中文"),
    "size.large": ("大字", "Large"),
    "size.xlarge": ("特大字", "Extra large"),
    "speech.on": ("朗读：开", "Read aloud: on"),
    "speech.off": ("朗读：关", "Read aloud: off"),
    "staff.corner": ("工作人员", "Staff"),
    # --- home --------------------------------------------------------------------------------
    "home.heading": ("您好！请选择要办理的事情", "Hello! Please choose what you want to do"),
    "home.say": (
        "请点一下下面的大按钮。需要帮助请点“呼叫工作人员”。",
        "Please touch one of the big buttons. For help, touch “Call staff”.",
    ),
    "home.tap": ("刷卡进入", "Tap card to enter"),
    "home.activate": ("激活新卡", "Activate a new card"),
    "home.lost": ("挂失/补换卡", "Lost or replace card"),
    "home.lost_note": ("（工作人员协助）", "(with staff)"),
    "home.help": ("呼叫工作人员", "Call staff"),
    "home.entrance": ("本机位于：{entrance}", "This kiosk is at: {entrance}"),
    # --- card reader -------------------------------------------------------------------------
    "card.place": (
        "请把社保卡放在下方读卡区，放好后不要移动。",
        "Please place your card on the reader below and keep it still.",
    ),
    "card.reading": ("正在读卡，请不要拿走卡片……", "Reading your card, please keep it still…"),
    "card.remove": ("请取走您的社保卡。", "Please take your card."),
    "card.unreadable": (
        "这张卡读不出来。请把卡重新放一下；还是不行，请呼叫工作人员。",
        "This card could not be read. Please place it again; if that fails, call staff.",
    ),
    # --- entry -------------------------------------------------------------------------------
    "entry.heading": ("刷卡进入", "Tap card to enter"),
    "entry.allowed": ("可以进入", "Please go in"),
    "entry.denied": ("暂时不能进入", "Entry not possible"),
    "entry.say_ok": ("请通行。欢迎！", "Please go in. Welcome!"),
    # --- activation --------------------------------------------------------------------------
    "act.heading": ("激活新卡", "Activate a new card"),
    "act.place": (
        "请把要激活的新社保卡放在下方读卡区。",
        "Please place the new card you want to activate on the reader below.",
    ),
    "act.identity": (
        "请输入您身份证号码的最后6位（最后一位是X请按X）。",
        "Please enter the last 6 characters of your ID number (press X for an X).",
    ),
    "act.identity_for": ("持卡人：{name}", "Cardholder: {name}"),
    "act.pin": ("请设置6位数字密码。", "Please choose a 6-digit PIN."),
    "act.pin_confirm": ("请再输入一次同样的密码。", "Please enter the same PIN once more."),
    "act.pin_hint": (
        "不要用生日、重复的数字（如000000）或连续的数字（如123456）。",
        "Do not use your birthday, one digit repeated (000000) or a run (123456).",
    ),
    "act.done": ("激活成功！您的社保卡可以使用了。", "Done! Your card is ready to use."),
    "act.done_say": (
        "请取走您的卡，妥善保管密码。",
        "Please take your card and keep your PIN secret.",
    ),
    "act.tries_left": ("还可以再试 {n} 次。", "You can try {n} more time(s)."),
    # --- help --------------------------------------------------------------------------------
    "help.heading": ("呼叫工作人员", "Call staff"),
    "help.ask": (
        "点“呼叫”，工作人员会尽快过来帮您。",
        "Touch “Call” and a member of staff will come to help you.",
    ),
    "help.call": ("呼叫", "Call"),
    "help.ticket": ("您的号码", "Your number"),
    "help.wait": (
        "已通知工作人员，请在这里稍等，工作人员会叫这个号码。",
        "Staff have been told. Please wait here; they will call this number.",
    ),
    "help.claimed": ("工作人员 {name} 正在过来。", "{name} is on the way."),
    "help.claimed_anon": ("工作人员正在过来。", "A member of staff is on the way."),
    "help.resolved": ("工作人员已处理完毕，谢谢！", "Staff have finished. Thank you!"),
    "help.cancelled": ("这次呼叫已取消。", "This call was cancelled."),
    "help.cancel": ("不需要了", "No longer needed"),
    "help.cancelled_say": (
        "已取消呼叫。需要帮助时，可以再点“呼叫”。",
        "The call is cancelled. If you need help later, touch “Call” again.",
    ),
    "help.cancel_refused": (
        "工作人员已经在过来了，请稍等；可以当面告诉他们不需要了。",
        "A member of staff is already on the way. Please wait and tell them you are fine.",
    ),
    "help.counter": (
        "也可以直接到服务柜台找工作人员。",
        "You can also go to the service counter.",
    ),
    # --- idle --------------------------------------------------------------------------------
    "idle.warning": (
        "您还在使用吗？{n} 秒后将返回首页，并清除您的信息。",
        "Are you still there? In {n} seconds the kiosk returns to the start and clears your "
        "details.",
    ),
    "idle.keep": ("继续使用", "Keep using"),
    # --- server unreachable -------------------------------------------------------------------
    "offline.heading": ("暂时连不上服务器", "Cannot reach the server"),
    # --- staff -------------------------------------------------------------------------------
    "staff.signin.heading": ("工作人员登录", "Staff sign-in"),
    "staff.signin.say": (
        "请输入用户名、密码和手机上的6位动态验证码，然后点“登录”。",
        "Enter your username, password and the 6-digit code from your phone, then touch “Sign in”.",
    ),
    "staff.username": ("用户名", "Username"),
    "staff.password": ("密码", "Password"),
    "staff.totp": ("动态验证码", "One-time code"),
    "staff.signin": ("登录", "Sign in"),
    "staff.signout": ("退出登录", "Sign out"),
    "staff.menu.heading": ("工作人员功能", "Staff tasks"),
    "staff.menu.say": ("请选择要办理的业务。", "Please choose a task."),
    "staff.menu.who": ("已登录：{name}", "Signed in: {name}"),
    "staff.issue": ("现场制发新卡", "Issue a card on the spot"),
    "staff.lost": ("挂失和补换卡", "Report loss / replace"),
    "staff.doorstep": ("上门办卡申请", "Door-to-door requests"),
    "staff.id_number": ("证件号码", "ID number"),
    "staff.name": ("姓名", "Name"),
    "staff.phone": ("手机号（可不填）", "Mobile (optional)"),
    "staff.find": ("查找", "Find"),
    "staff.register": ("登记新人员", "Register person"),
    "staff.issue.say_find": (
        "请输入办卡人的证件号码并点“查找”；找不到时填写姓名后点“登记新人员”。",
        "Enter the person's ID number and touch “Find”; if not found, add the name and "
        "touch “Register person”.",
    ),
    "staff.issue.person": ("办卡人：{name}（{id}）", "Cardholder: {name} ({id})"),
    "staff.issue.apply": ("申领新卡", "Apply for a card"),
    "staff.issue.say_apply": (
        "已找到此人，目前没有可用的卡。请点“申领新卡”。",
        "Person found with no usable card. Touch “Apply for a card”.",
    ),
    "staff.issue.say_blank": (
        "请把一张空白卡放在读卡区，然后点“读取空白卡”。",
        "Place a blank card on the reader, then touch “Read blank card”.",
    ),
    "staff.issue.read_blank": ("读取空白卡", "Read blank card"),
    "staff.issue.say_pin": (
        "卡已写好（卡号 {serial}）。请持卡人在键盘上设置6位密码。",
        "Card written (serial {serial}). The cardholder now sets a 6-digit PIN on the keypad.",
    ),
    "staff.issue.done": (
        "新卡已发放并激活（卡号 {serial}），请交给持卡人。",
        "New card issued and activated (serial {serial}). Please hand it over.",
    ),
    "staff.issue.card_applied": (
        "已有待制卡的申请，可直接制卡。",
        "A card application is waiting.",
    ),
    "staff.lost.say_find": (
        "请输入持卡人的证件号码并点“查找”。",
        "Enter the cardholder's ID number and touch “Find”.",
    ),
    "staff.lost.card": ("卡号 {serial}：{state}", "Card {serial}: {state}"),
    "staff.lost.report": ("挂失此卡", "Report this card lost"),
    "staff.lost.replace": ("补换新卡", "Replace this card"),
    "staff.lost.say_card": (
        "请选择：先挂失，或直接补换新卡。",
        "Choose: report the card lost, or replace it now.",
    ),
    "staff.lost.reported": ("已挂失，卡已暂停使用。", "Reported lost: the card is suspended."),
    "staff.lost.reason": ("持卡人在自助机办理", "At the kiosk, with the cardholder"),
    "staff.doorstep.say": (
        "以下是需要上门办卡的申请。",
        "These are the requests for a door-to-door visit.",
    ),
    "staff.doorstep.empty": ("目前没有上门办卡申请。", "No door-to-door requests at the moment."),
    "staff.doorstep.unavailable": (
        "上门办卡清单暂时不能查看，请在业务系统中查看。",
        "The door-to-door list is not available here yet; please use the back-office system.",
    ),
    "staff.doorstep.item": ("{ref}  {who}  {state}", "{ref}  {who}  {state}"),
    "staff.doorstep.age": ("{age}岁", "aged {age}"),
    "staff.doorstep.visit": ("预约上门 {window}", "Visit {window}"),
    "staff.doorstep.staff": ("负责：{name}", "Staff: {name}"),
    # --- demo panel ---------------------------------------------------------------------------
    "demo.heading": ("演示读卡器", "Demo card reader"),
    "demo.place": ("放上", "Place"),
    "demo.remove": ("取走卡片", "Remove card"),
    "demo.blank": ("放上一张空白卡", "Place a blank card"),
    "demo.prev": ("上一页", "Previous"),
    "demo.next": ("下一页", "Next"),
    "demo.on_reader": ("读卡器上：{label}", "On the reader: {label}"),
    "demo.empty": ("读卡器上：无", "On the reader: nothing"),
}

# Server (and kiosk) codes → (what happened, what to do). Extra fields fill the {placeholders}.
CODE_TEXTS: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "server.unreachable": (
        ("暂时连不上服务器，这不是您的问题。", "The kiosk cannot reach the server right now."),
        (
            "请呼叫工作人员，或到服务柜台办理。",
            "Please call staff or go to the service counter.",
        ),
    ),
    "chip.unknown_card": (
        ("这张卡不是本系统的社保卡。", "This card is not a social security card we know."),
        (
            "请确认是社保卡，或呼叫工作人员。",
            "Check it is your social security card, or call staff.",
        ),
    ),
    "chip.bad_mac": (
        ("这张卡没有通过安全检查。", "This card did not pass the security check."),
        ("请呼叫工作人员检查卡片。", "Please call staff to check the card."),
    ),
    "chip.counter_replayed": (
        (
            "这张卡的安全检查没有通过，可能是复制的卡。",
            "This card failed the check; it may be a copy.",
        ),
        ("请不要使用这张卡，请呼叫工作人员。", "Please do not use this card; call staff."),
    ),
    "chip.challenge_unknown": (
        ("读卡没有完成。", "Reading the card did not finish."),
        ("请把卡重新放一下。", "Please place the card again."),
    ),
    "chip.challenge_expired": (
        ("读卡时间太长，没有完成。", "Reading the card took too long."),
        ("请把卡重新放一下。", "Please place the card again."),
    ),
    "chip.challenge_used": (
        ("读卡没有完成。", "Reading the card did not finish."),
        ("请把卡重新放一下。", "Please place the card again."),
    ),
    "device.error": (
        ("读卡出现问题。", "Something went wrong reading the card."),
        (
            "请把卡重新放好；还是不行，请呼叫工作人员。",
            "Place it again; if that fails, call staff.",
        ),
    ),
    "device.no_card": (
        ("没有检测到卡片。", "No card was found on the reader."),
        ("请把社保卡平放在读卡区。", "Please lay your card flat on the reader."),
    ),
    "device.card_removed": (
        ("卡片拿开得太早了。", "The card was taken away too soon."),
        ("请重新放好，等看到结果再拿开。", "Place it again and wait for the result."),
    ),
    "device.not_our_card": (
        ("这张卡不是社保卡。", "This is not a social security card."),
        ("请换用您的社会保障卡。", "Please use your social security card."),
    ),
    "device.card_fault": (
        ("这张卡读不出来。", "This card could not be read."),
        ("请呼叫工作人员检查卡片。", "Please call staff to check the card."),
    ),
    "device.already_personalised": (
        ("这张卡已经写入过持卡人信息。", "This card already holds a cardholder's data."),
        ("请换一张空白卡。", "Please use a blank card."),
    ),
    "device.reader_unavailable": (
        ("读卡器暂时不能使用。", "The card reader is not working."),
        ("请呼叫工作人员。", "Please call staff."),
    ),
    "card.not_active": (
        ("这张卡现在不能使用（{state_text}）。", "This card cannot be used now ({state_text})."),
        ("{state_action}", "{state_action}"),
    ),
    "card.pin_locked": (
        ("密码输错次数太多，卡已锁定。", "Too many wrong tries: the card is locked."),
        ("请呼叫工作人员帮您解锁。", "Please call staff to unlock it."),
    ),
    "card.pin_weak": (
        ("这个密码太容易被别人猜到了。", "This PIN would be too easy for someone to guess."),
        (
            "为了您的资金安全，请换一个：{problems_text}",
            "To keep your money safe, please choose another: {problems_text}",
        ),
    ),
    "card.one_person_one_card": (
        (
            "此人已经有一张可以使用的社保卡，按规定一人只能有一张。",
            "This person already has a usable card: one person, one card.",
        ),
        (
            "如卡片丢失或损坏，请办理挂失或补换。",
            "If it is lost or damaged, report it lost or replace it.",
        ),
    ),
    "card.not_found": (
        ("找不到这张卡。", "The card was not found."),
        ("请重新查找。", "Please search again."),
    ),
    "card.invalid_transition": (
        ("这张卡现在不能办理这项业务。", "This card cannot go through this step now."),
        ("请查看卡的状态后再试。", "Check the card's state and try again."),
    ),
    "card.serial_taken": (
        ("这张空白卡已经用过了。", "This blank card has already been used."),
        ("请换一张空白卡。", "Please use another blank card."),
    ),
    "card.blank_not_blank": (
        ("读卡器上的卡不是空白卡。", "The card on the reader is not blank."),
        ("请换一张空白卡。", "Please place a blank card."),
    ),
    "card.write_failed": (
        ("卡片写入没有成功。", "Writing the card did not succeed."),
        ("请把卡重新放好后再试。", "Place the card again and retry."),
    ),
    "activation.already_active": (
        ("这张卡已经激活过了，可以直接使用。", "This card is already active and ready to use."),
        ("如忘记密码，请呼叫工作人员。", "If you forgot the PIN, please call staff."),
    ),
    "activation.identity_mismatch": (
        ("号码和持卡人的身份证不一致。", "These characters do not match the holder's ID."),
        (
            "请核对后重新输入。还可以再试 {tries_left} 次。",
            "Please check and enter them again. {tries_left} tries left.",
        ),
    ),
    "activation.identity_required": (
        ("还没有核对身份。", "Your identity has not been checked yet."),
        ("请从头再办理一次。", "Please start again."),
    ),
    "activation.pin_mismatch": (
        ("两次输入的密码不一样。", "The two PINs are not the same."),
        ("请重新设置密码。", "Please set the PIN again."),
    ),
    "activation.expired": (
        ("操作时间太长，为了安全已经停止。", "This took too long and was stopped for safety."),
        ("请把卡重新放上，从头再办理。", "Please place the card again and start over."),
    ),
    "activation.unknown": (
        ("这次激活已经失效。", "This activation is no longer valid."),
        ("请把卡重新放上，从头再办理。", "Please place the card again and start over."),
    ),
    "activation.finished": (
        ("这张卡已经激活完成。", "This card has already been activated."),
        ("可以直接使用了。", "It is ready to use."),
    ),
    "entry.unknown_entrance": (
        ("本机的入口设置有误。", "This kiosk's entrance is not set up correctly."),
        ("请呼叫工作人员。", "Please call staff."),
    ),
    "entry.terminal_not_at_entrance": (
        ("本机的入口设置有误。", "This kiosk's entrance is not set up correctly."),
        ("请呼叫工作人员。", "Please call staff."),
    ),
    "entry.closed": (
        ("现在不在开放时间。", "It is closed at the moment."),
        ("{opens_text}", "{opens_text}"),
    ),
    "auth.invalid_credentials": (
        ("用户名或密码不对。", "The username or password is wrong."),
        ("请重新输入。", "Please enter them again."),
    ),
    "auth.totp_incorrect": (
        ("动态验证码不对。", "The one-time code is wrong."),
        ("请看手机上最新的验证码，重新输入。", "Enter the newest code from your phone."),
    ),
    "auth.totp_required": (
        ("需要动态验证码。", "A one-time code is needed."),
        ("请输入手机上的6位验证码。", "Enter the 6-digit code from your phone."),
    ),
    "auth.totp_not_enrolled": (
        ("此账号还没有绑定动态验证码。", "This account has no one-time code set up."),
        ("请先在业务系统中绑定。", "Please set it up in the back-office system first."),
    ),
    "auth.account_locked": (
        ("账号已被暂时锁定。", "The account is locked for a while."),
        ("请稍后再试或联系管理员。", "Try again later or ask an administrator."),
    ),
    "auth.account_disabled": (
        ("账号已停用。", "The account is disabled."),
        ("请联系管理员。", "Please ask an administrator."),
    ),
    "auth.unauthenticated": (
        ("登录已失效。", "You are signed out."),
        ("请重新登录。", "Please sign in again."),
    ),
    "auth.invalid_token": (
        ("登录已失效。", "You are signed out."),
        ("请重新登录。", "Please sign in again."),
    ),
    "auth.out_of_scope": (
        ("此人不在您负责的地区。", "This person is outside your area."),
        ("请转到对应地区办理。", "Please refer them to the right city."),
    ),
    "auth.forbidden": (
        ("您没有办理此业务的权限。", "You are not permitted to do this."),
        ("请联系管理员。", "Please ask an administrator."),
    ),
    "person.not_found": (
        ("没有找到此人。", "This person was not found."),
        ("请核对证件号码，或填写姓名后登记。", "Check the number, or add the name and register."),
    ),
    "person.invalid_id_number": (
        ("证件号码不正确。", "The ID number is not valid."),
        ("请核对后重新输入。", "Please check and enter it again."),
    ),
    "person.already_registered": (
        ("此人已经登记过了。", "This person is already registered."),
        ("请点“查找”。", "Touch “Find”."),
    ),
    "person.invalid_phone": (
        ("手机号码不正确。", "The mobile number is not valid."),
        ("请核对，或不填。", "Check it, or leave it empty."),
    ),
    "person.deceased": (
        ("此人已登记死亡，不能办卡。", "This person is recorded as deceased."),
        ("请核对证件号码。", "Please check the ID number."),
    ),
    "help.already_claimed": (
        ("工作人员已经在过来了。", "A member of staff is already on the way."),
        ("请在这里稍等。", "Please wait here."),
    ),
    "help.closed": (
        ("这次呼叫已经处理完了。", "This call has already been dealt with."),
        ("还需要帮助，请再呼叫一次。", "If you still need help, please call again."),
    ),
    "help.not_found": (
        ("找不到这次呼叫。", "This call could not be found."),
        ("请再呼叫一次，或到服务柜台。", "Please call again or go to the service counter."),
    ),
    "request.rate_limited": (
        ("操作太频繁了。", "Too many attempts."),
        ("请稍等一分钟再试。", "Please wait a minute and try again."),
    ),
    "request.validation_failed": (
        ("填写的内容不完整或有误。", "Something entered is incomplete or wrong."),
        ("请核对后重新输入。", "Please check and try again."),
    ),
    "request.not_found": (
        ("这项功能暂时不能使用。", "This function is not available right now."),
        ("请呼叫工作人员。", "Please call staff."),
    ),
}

GENERIC = (
    ("没有办成。", "That did not work."),
    ("请呼叫工作人员帮您。", "Please call staff for help."),
)

# card.not_active {state}: the state in words and what to do.
STATE_TEXTS: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "sealed": (
        ("卡已封存", "the card is sealed"),
        ("请带上身份证到服务柜台办理解封。", "Please bring your ID to the counter to unseal it."),
    ),
    "suspended": (
        ("卡已挂失", "the card was reported lost"),
        (
            "如果卡已找回，请呼叫工作人员解除挂失。",
            "If you found the card, call staff to cancel the loss report.",
        ),
    ),
    "cancelled": (
        ("卡已注销", "the card is cancelled"),
        ("请到服务柜台申领新卡。", "Please apply for a new card at the counter."),
    ),
    "replaced": (
        ("这张旧卡已换成新卡", "this old card has been replaced"),
        ("请使用您的新卡。", "Please use your new card."),
    ),
    "issued": (
        ("新卡还没有激活", "the new card is not activated yet"),
        ("请先点首页的“激活新卡”。", "Please touch “Activate a new card” on the start screen."),
    ),
    "applied": (
        ("卡还在制作中", "the card is still being made"),
        ("请等制卡完成后再来。", "Please come back when the card is ready."),
    ),
    "produced": (
        ("卡还没有发放", "the card has not been handed out yet"),
        ("请到服务柜台领卡。", "Please collect it at the counter."),
    ),
    "active": (
        ("卡可以正常使用", "the card is active"),
        ("请再试一次。", "Please try again."),
    ),
}

PIN_PROBLEM_TEXTS: dict[str, tuple[str, str]] = {
    "repeated": ("不要全部用同一个数字（如 000000）", "not the same digit six times (000000)"),
    "sequence": ("不要用连续的数字（如 123456）", "not a run of digits (123456)"),
    "pattern": ("不要用简单重复的组合（如 121212）", "not a simple repeat (121212)"),
    "birth_date": ("不要用您的生日", "not your birthday"),
    "shape": ("密码必须是6位数字", "it must be 6 digits"),
}

STATE_NAMES = {state: texts[0] for state, texts in STATE_TEXTS.items()}

# Door-to-door request statuses (the server's ``status``; its ``status_name`` holds both
# languages in one string, so the kiosk names them itself).
DOORSTEP_STATUS_TEXTS: dict[str, tuple[str, str]] = {
    "requested": ("待派单", "Requested"),
    "assigned": ("待上门", "Assigned"),
    "visited": ("已上门，待确认卡片", "Visited, card to confirm"),
    "completed": ("已完成", "Completed"),
    "cancelled": ("已取消", "Cancelled"),
}


def _pick(pair: tuple[str, str], lang: str) -> str:
    return pair[1] if lang == "en" else pair[0]


class _Values(dict):
    def __missing__(self, key: str) -> str:
        return ""


def tr(key: str, lang: str = "zh", **values: Any) -> str:
    """The text for ``key`` in ``lang``; an unknown key returns the key (visible in tests)."""
    pair = TEXTS.get(key)
    if pair is None:
        return key
    return _pick(pair, lang).format_map(_Values(values))


def state_name(state: str, lang: str) -> str:
    pair = STATE_TEXTS.get(state)
    return _pick(pair[0], lang) if pair else state


def doorstep_status(status: str, status_name: str, lang: str) -> str:
    """A door-to-door status in one language. An unknown status falls back to the server's
    ``"待上门 Assigned"`` form, split at its first space (Chinese part, English part)."""
    pair = DOORSTEP_STATUS_TEXTS.get(status)
    if pair is not None:
        return _pick(pair, lang)
    zh, _, en = (status_name or status).partition(" ")
    return (en or zh) if lang == "en" else zh


def explain(code: str, extra: dict[str, Any] | None, lang: str = "zh") -> tuple[str, str]:
    """(what happened, what to do) in plain words for a server or kiosk code."""
    extra = dict(extra or {})
    reason_pair, action_pair = CODE_TEXTS.get(code, GENERIC)
    state = str(extra.get("state") or "")
    if code == "card.not_active":
        state_pair = STATE_TEXTS.get(state)
        if state_pair is None:
            extra["state_text"] = _pick(("卡的状态不对", "its state does not allow it"), lang)
            extra["state_action"] = _pick(("请呼叫工作人员。", "Please call staff."), lang)
        else:
            extra["state_text"] = _pick(state_pair[0], lang)
            extra["state_action"] = _pick(state_pair[1], lang)
    if code == "card.pin_weak":
        problems = [p for p in extra.get("problems") or [] if p in PIN_PROBLEM_TEXTS]
        problems = problems or ["sequence", "repeated"]
        sep = "；" if lang == "zh" else "; "
        extra["problems_text"] = sep.join(_pick(PIN_PROBLEM_TEXTS[p], lang) for p in problems)
    if code == "entry.closed" and extra.get("entrance_status") not in (None, "", "open"):
        # staff closed this entrance for now (works, repairs…), with their reason when given
        why = str(extra.get("reason") or "").strip().rstrip("。.！!；; ")
        if lang == "en" and _CJK.search(why):
            why = ""  # staff wrote it in Chinese: the English screen keeps to plain English
        if why:
            reason_pair = ("这个入口暂时关闭了：{why}。", "This entrance is closed for now: {why}.")
        else:
            reason_pair = ("这个入口暂时关闭了。", "This entrance is closed for now.")
        extra["why"] = why
        action_pair = (
            "请从其他入口进入，或呼叫工作人员。",
            "Please use another entrance, or call staff.",
        )
    elif code == "entry.closed":
        opens = format_moment(extra.get("opens_at"), lang)  # Shanghai time, in words
        if opens:
            extra["opens_text"] = _pick(
                (
                    f"开放时间：{opens} 起，欢迎到时再来。",
                    f"It opens on {opens}. Welcome back then.",
                ),
                lang,
            )
        else:
            extra["opens_text"] = _pick(
                ("请在开放时间再来。", "Please come back during opening hours."), lang
            )
    if code == "activation.identity_mismatch" and "tries_left" not in extra:
        extra["tries_left"] = "?"
    values = _Values(extra)
    return _pick(reason_pair, lang).format_map(values), _pick(action_pair, lang).format_map(values)


def offers_staff(code: str) -> bool:
    """Whether the message should come with a “call staff” button."""
    return code not in {
        "activation.pin_mismatch",
        "card.pin_weak",
        "activation.identity_mismatch",
        "chip.challenge_unknown",
        "chip.challenge_expired",
        "chip.challenge_used",
    }
