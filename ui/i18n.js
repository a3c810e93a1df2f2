// Chinese and English UI strings. The language follows the system's, and the user can switch;
// the choice is kept in localStorage. Static text is marked `data-i18n="key"` (textContent),
// `data-i18n-ph` (placeholder) or `data-i18n-title` (title) in the HTML.

const STRINGS = {
  en: {
    appName: 'Liveroom',
    tagline: 'Live rooms: chat, likes, gifts and pictures',
    modeLocal: 'On this computer',
    modeLocalDesc: 'Runs the room server inside the app. Others can join with its address.',
    modeRemote: 'Remote server',
    modeRemoteDesc: 'Join a Liveroom server with its SDKAppID and your UserSig.',
    modeGuest: 'Watch as guest',
    modeGuestDesc: 'Enter a room without logging in: read along, no sending.',
    userID: 'User ID',
    nick: 'Nickname',
    userSig: 'UserSig',
    serverAddress: 'Server address',
    sdkAppID: 'SDKAppID',
    roomID: 'Room ID',
    start: 'Start',
    connect: 'Connect',
    watch: 'Watch',
    embeddedServer: 'Embedded server',
    embeddedStarting: 'starting…',
    lanAccess: 'Open to local network',
    lanHint: 'Listens on all interfaces so viewers on other computers can join.',
    rooms: 'Rooms',
    createRoom: 'Create a room',
    roomName: 'Room name',
    roomIDOptional: 'Room ID (optional)',
    notification: 'Notice',
    introduction: 'Introduction',
    avatarURL: 'Avatar URL',
    create: 'Create',
    enterByID: 'Enter by ID',
    enter: 'Enter',
    recentRooms: 'Recent rooms',
    joinedRooms: 'Joined rooms',
    noRecent: 'No rooms yet',
    moderatorView: 'Side by side',
    singleView: 'Single room',
    profile: 'Profile',
    save: 'Save',
    cancel: 'Cancel',
    logout: 'Log out',
    leave: 'Leave',
    send: 'Send',
    messagePlaceholder: 'Say something…',
    guestPlaceholder: 'Guests can watch but not send',
    live: 'LIVE',
    ended: 'ENDED',
    online: 'online',
    hostPanel: 'Host',
    stopPush: 'End stream',
    postscript: 'Farewell message',
    streamEnded: 'The stream has ended',
    like: 'Like',
    gifts: 'Gifts',
    picture: 'Picture',
    uploading: 'Uploading picture',
    joined: 'joined',
    left: 'left',
    sentGift: 'sent',
    liked: 'liked the stream',
    welcome: 'Pick a room on the left, or create one.',
    guest: 'Guest',
    language: '中文',
    theme: 'Theme',
    kicked: 'You were signed out: ',
    netConnecting: 'Reconnecting…',
    netDisconnected: 'Disconnected',
    copied: 'Copied',
    dropHere: 'Drop a picture to send it',
    owner: 'host',
    errorPrefix: 'Error',
    changeServer: 'Change server',
    roomCreated: 'Room created',
    muteAll: 'Mute everyone (only host and admins speak)',
    slowMode: 'Slow mode (seconds, 0 off)',
    apply: 'Apply',
    add: 'Add',
    remove: 'Remove',
    blockedWordPh: 'Blocked word',
    msgMenu: 'Moderate',
    deleteMsg: 'Delete message',
    mute1m: 'Mute 1 min',
    mute10m: 'Mute 10 min',
    mute1h: 'Mute 1 h',
    mute24h: 'Mute 24 h',
    kick: 'Kick',
    ban: 'Ban',
    mutedUntil: 'You are muted until ',
    userMuted: ' is muted until ',
    userUnmuted: ' may speak again',
    kickedFromRoom: 'you were removed from the room',
    bannedUntil: 'you were banned until ',
    bannedForGood: 'you were banned for good',
    roomDismissed: 'the room was dismissed',
    done: 'Done',
  },
  zh: {
    appName: 'Liveroom 直播间',
    tagline: '直播互动：聊天、点赞、送礼、发图',
    modeLocal: '在本机运行',
    modeLocalDesc: '在应用内启动直播间服务器，其他人可通过地址加入。',
    modeRemote: '远程服务器',
    modeRemoteDesc: '使用 SDKAppID 和 UserSig 加入 Liveroom 服务器。',
    modeGuest: '游客观看',
    modeGuestDesc: '无需登录即可进入直播间：只看不发。',
    userID: '用户 ID',
    nick: '昵称',
    userSig: 'UserSig',
    serverAddress: '服务器地址',
    sdkAppID: 'SDKAppID',
    roomID: '直播间 ID',
    start: '开始',
    connect: '连接',
    watch: '观看',
    embeddedServer: '内置服务器',
    embeddedStarting: '启动中…',
    lanAccess: '向局域网开放',
    lanHint: '监听所有网卡，局域网内其他电脑的观众也能加入。',
    rooms: '直播间',
    createRoom: '创建直播间',
    roomName: '直播间名称',
    roomIDOptional: '直播间 ID（可选）',
    notification: '公告',
    introduction: '简介',
    avatarURL: '头像 URL',
    create: '创建',
    enterByID: '按 ID 进入',
    enter: '进入',
    recentRooms: '最近的直播间',
    joinedRooms: '已加入',
    noRecent: '还没有直播间',
    moderatorView: '并排查看',
    singleView: '单个直播间',
    profile: '个人资料',
    save: '保存',
    cancel: '取消',
    logout: '退出登录',
    leave: '离开',
    send: '发送',
    messagePlaceholder: '说点什么…',
    guestPlaceholder: '游客只能观看，不能发言',
    live: '直播中',
    ended: '已结束',
    online: '人在线',
    hostPanel: '主播',
    stopPush: '结束直播',
    postscript: '结束语',
    streamEnded: '直播已结束',
    like: '点赞',
    gifts: '礼物',
    picture: '图片',
    uploading: '图片上传中',
    joined: '进入了直播间',
    left: '离开了直播间',
    sentGift: '送出',
    liked: '点了赞',
    welcome: '在左侧选择或创建一个直播间。',
    guest: '游客',
    language: 'English',
    theme: '主题',
    kicked: '你已被下线：',
    netConnecting: '正在重连…',
    netDisconnected: '连接已断开',
    copied: '已复制',
    dropHere: '松开即可发送图片',
    owner: '主播',
    errorPrefix: '错误',
    changeServer: '切换服务器',
    roomCreated: '直播间已创建',
    muteAll: '全员禁言（仅主播和管理员可发言）',
    slowMode: '慢速模式（秒，0 为关闭）',
    apply: '应用',
    add: '添加',
    remove: '移除',
    blockedWordPh: '屏蔽词',
    msgMenu: '管理',
    deleteMsg: '删除消息',
    mute1m: '禁言 1 分钟',
    mute10m: '禁言 10 分钟',
    mute1h: '禁言 1 小时',
    mute24h: '禁言 24 小时',
    kick: '踢出',
    ban: '封禁',
    mutedUntil: '你已被禁言，直到 ',
    userMuted: ' 已被禁言，直到 ',
    userUnmuted: ' 已解除禁言',
    kickedFromRoom: '你已被移出直播间',
    bannedUntil: '你已被封禁，直到 ',
    bannedForGood: '你已被永久封禁',
    roomDismissed: '直播间已解散',
    done: '完成',
  },
};

const GIFT_NAMES = {
  en: { rose: 'Rose', heart: 'Big heart', cake: 'Cake', rocket: 'Rocket', crown: 'Crown' },
  zh: { rose: '玫瑰', heart: '爱心', cake: '蛋糕', rocket: '火箭', crown: '皇冠' },
};

function systemLanguage() {
  const langs = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language];
  return langs.some((l) => String(l || '').toLowerCase().startsWith('zh')) ? 'zh' : 'en';
}

let lang = localStorage.getItem('liveroom.lang') || systemLanguage();
const listeners = new Set();

/** The current language: `en` or `zh`. */
export const currentLang = () => lang;

/** Uses the system's language, unless the user picked one. `sys` may come from the shell. */
export function initLanguage(sys) {
  if (!localStorage.getItem('liveroom.lang') && sys) lang = sys.startsWith('zh') ? 'zh' : 'en';
  apply(document);
}

/** The string for `key` in the current language. */
export function t(key) {
  return STRINGS[lang][key] ?? STRINGS.en[key] ?? key;
}

/** A gift's display name. */
export function giftName(id) {
  return GIFT_NAMES[lang][id] ?? id;
}

/** Switches language, re-labels the static text and tells the subscribers. */
export function setLang(l) {
  lang = l === 'zh' ? 'zh' : 'en';
  localStorage.setItem('liveroom.lang', lang);
  apply(document);
  for (const f of listeners) f(lang);
}

/** Calls `f(lang)` after each switch. */
export function onLangChange(f) {
  listeners.add(f);
}

/** Sets the text of every `data-i18n*` element under `root`. */
export function apply(root) {
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-ph]')) el.placeholder = t(el.dataset.i18nPh);
  for (const el of root.querySelectorAll('[data-i18n-title]')) el.title = t(el.dataset.i18nTitle);
}
