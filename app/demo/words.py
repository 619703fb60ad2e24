"""Chinese business vocabulary shared by the demo data (``crm seed-demo``) and the benchmark
generators in ``bench/``: cities, company-name stems, industries, people's names, titles,
roads, tags, products, company sizes and mobile prefixes.

The benchmark derives unique names and numbers arithmetically from the lengths of these
lists, so append to them rather than reorder them.
"""

from __future__ import annotations


def _words(text: str) -> list[str]:
    return text.split()


# (city used in names, region field, administrative division code used in the USCC)
CITIES: list[tuple[str, str, str]] = [
    ("北京", "北京市", "110105"),
    ("上海", "上海市", "310115"),
    ("天津", "天津市", "120116"),
    ("重庆", "重庆市", "500103"),
    ("广州", "广东省广州市", "440106"),
    ("深圳", "广东省深圳市", "440305"),
    ("东莞", "广东省东莞市", "441900"),
    ("佛山", "广东省佛山市", "440604"),
    ("杭州", "浙江省杭州市", "330106"),
    ("宁波", "浙江省宁波市", "330212"),
    ("温州", "浙江省温州市", "330302"),
    ("苏州", "江苏省苏州市", "320505"),
    ("南京", "江苏省南京市", "320106"),
    ("无锡", "江苏省无锡市", "320214"),
    ("常州", "江苏省常州市", "320411"),
    ("合肥", "安徽省合肥市", "340104"),
    ("福州", "福建省福州市", "350102"),
    ("厦门", "福建省厦门市", "350206"),
    ("济南", "山东省济南市", "370102"),
    ("青岛", "山东省青岛市", "370212"),
    ("郑州", "河南省郑州市", "410105"),
    ("武汉", "湖北省武汉市", "420106"),
    ("长沙", "湖南省长沙市", "430104"),
    ("南昌", "江西省南昌市", "360102"),
    ("成都", "四川省成都市", "510107"),
    ("西安", "陕西省西安市", "610113"),
    ("昆明", "云南省昆明市", "530102"),
    ("贵阳", "贵州省贵阳市", "520102"),
    ("南宁", "广西壮族自治区南宁市", "450103"),
    ("海口", "海南省海口市", "460106"),
    ("沈阳", "辽宁省沈阳市", "210102"),
    ("大连", "辽宁省大连市", "210204"),
    ("长春", "吉林省长春市", "220104"),
    ("哈尔滨", "黑龙江省哈尔滨市", "230103"),
    ("石家庄", "河北省石家庄市", "130104"),
    ("太原", "山西省太原市", "140105"),
    ("呼和浩特", "内蒙古自治区呼和浩特市", "150102"),
    ("兰州", "甘肃省兰州市", "620102"),
    ("乌鲁木齐", "新疆维吾尔自治区乌鲁木齐市", "650104"),
    ("银川", "宁夏回族自治区银川市", "640104"),
]

# Two-character word stems ("brand" part of a company name) with pinyin for web/email domains.
STEMS: list[tuple[str, str]] = [
    (s[:2], s[2:])
    for s in _words("""
星辰xingchen 华泰huatai 远航yuanhang 中科zhongke 金鼎jinding
博远boyuan 恒通hengtong 瑞丰ruifeng 鼎盛dingsheng 宏达hongda
天合tianhe 汇通huitong 嘉禾jiahe 新元xinyuan 华信huaxin 东方dongfang
联创lianchuang 智联zhilian 安泰antai 永信yongxin 明德mingde
正和zhenghe 宝利baoli 宏图hongtu 海纳haina 蓝天lantian 青云qingyun
长城changcheng 振华zhenhua 锦程jincheng 盛世shengshi 百川baichuan
卓越zhuoyue 创新chuangxin 同创tongchuang 华瑞huarui 凯达kaida
致远zhiyuan 德信dexin 富源fuyuan 国信guoxin 光华guanghua 万邦wanbang
信诚xincheng 和信hexin 天成tiancheng 鑫源xinyuan 润泽runze 君安junan
荣盛rongsheng 立德lide 隆基longji 腾飞tengfei 银河yinhe 金桥jinqiao
世纪shiji 力拓lituo 思源siyuan 齐心qixin 华夏huaxia 众诚zhongcheng
美达meida 佳和jiahe 亿通yitong 飞扬feiyang 启明qiming 方圆fangyuan
大洋dayang 奥博aobo 精工jinggong 泰和taihe 晨光chenguang 九州jiuzhou
四海sihai 星河xinghe 协力xieli 峰汇fenghui 弘毅hongyi 诚达chengda
鸿运hongyun 天宇tianyu 华源huayuan 新宇xinyu 欣荣xinrong 优品youpin
普惠puhui 金穗jinsui 绿源lvyuan 中联zhonglian 融信rongxin 易达yida
远景yuanjing 瀚海hanhai 赛特saite 凌云lingyun 聚力juli 海川haichuan
华泽huaze 朗润langrun 天润tianrun 安达anda 恒丰hengfeng 祥和xianghe
鼎新dingxin 尚品shangpin 正泰zhengtai 中恒zhongheng 卓信zhuoxin
汇丰huifeng 华腾huateng 兴业xingye 海德haide 蓝海lanhai 云帆yunfan
锐思ruisi 睿智ruizhi
""")
]

# (word in the name, industry field, domain word)
INDUSTRIES: list[tuple[str, str, str]] = [
    ("科技", "信息技术", "tech"),
    ("软件", "信息技术", "soft"),
    ("网络", "互联网", "net"),
    ("电子", "电子制造", "elec"),
    ("机械", "装备制造", "mach"),
    ("制造", "装备制造", "mfg"),
    ("贸易", "批发零售", "trade"),
    ("商贸", "批发零售", "trading"),
    ("物流", "交通物流", "logistics"),
    ("医药", "医药健康", "pharma"),
    ("生物", "医药健康", "bio"),
    ("医疗", "医药健康", "medical"),
    ("食品", "食品饮料", "food"),
    ("建材", "建筑建材", "bm"),
    ("建设", "建筑建材", "build"),
    ("化工", "化工材料", "chem"),
    ("材料", "化工材料", "material"),
    ("能源", "新能源", "energy"),
    ("环保", "节能环保", "eco"),
    ("汽配", "汽车", "auto"),
    ("纺织", "纺织服装", "textile"),
    ("服饰", "纺织服装", "fashion"),
    ("教育", "教育培训", "edu"),
    ("咨询", "商务服务", "consult"),
    ("传媒", "文化传媒", "media"),
    ("印务", "文化传媒", "print"),
    ("家居", "家居建材", "home"),
    ("农业", "农林牧渔", "agri"),
    ("实业", "综合", "group"),
    ("投资", "金融服务", "invest"),
]
SURNAMES = [
    (s[0], s[1:])
    for s in _words("""
王wang 李li 张zhang 刘liu 陈chen 杨yang 黄huang 赵zhao 吴wu 周zhou
徐xu 孙sun 马ma 朱zhu 胡hu 郭guo 何he 林lin 高gao 罗luo 郑zheng
梁liang 谢xie 宋song 唐tang 许xu 韩han 冯feng 邓deng 曹cao 彭peng
曾zeng 肖xiao 田tian 董dong 潘pan 袁yuan 蔡cai 蒋jiang 余yu 于yu 杜du
叶ye 程cheng 魏wei 苏su 吕lv 丁ding 任ren 卢lu 姚yao 沈shen 钟zhong
姜jiang 崔cui 谭tan 陆lu 范fan 汪wang 廖liao 石shi 金jin 贾jia 夏xia
方fang 邹zou 熊xiong 白bai 孟meng 秦qin
""")
]
GIVEN_NAMES = [
    tuple(s.split(":"))
    for s in _words("""
伟:wei 芳:fang 娜:na 敏:min 静:jing 丽:li 强:qiang 磊:lei 军:jun
洋:yang 勇:yong 艳:yan 杰:jie 娟:juan 涛:tao 明:ming 超:chao
秀英:xiuying 霞:xia 平:ping 刚:gang 桂英:guiying 建华:jianhua
建国:jianguo 志强:zhiqiang 海燕:haiyan 小红:xiaohong 晓东:xiaodong
子涵:zihan 浩然:haoran 雨涵:yuhan 欣怡:xinyi 梓轩:zixuan 一鸣:yiming
思远:siyuan 佳琪:jiaqi 文博:wenbo 俊杰:junjie 婷婷:tingting 丹:dan
宁:ning 鹏:peng 辉:hui 斌:bin 飞:fei 红:hong 玲:ling 波:bo
""")
]
TITLES = [
    "总经理",
    "采购经理",
    "财务总监",
    "技术总监",
    "销售经理",
    "行政主管",
    "董事长",
    "项目经理",
    "采购专员",
    "IT经理",
    "运营总监",
    "副总经理",
]
ROADS = [
    "人民路",
    "中山路",
    "解放路",
    "建设路",
    "科技路",
    "创业路",
    "学院路",
    "滨江大道",
    "长江路",
    "黄河路",
    "新华路",
    "和平路",
    "工业园路",
    "高新大道",
    "世纪大道",
]
TAGS = [
    "重点客户",
    "展会2026",
    "老客户转介绍",
    "政府采购",
    "高潜力",
    "价格敏感",
    "决策链长",
    "需要演示",
    "海外业务",
    "上市公司",
]
PRODUCTS = ["CRM标准版", "CRM专业版", "数据服务", "实施服务", "培训服务"]
SIZES = ["1-49", "50-199", "200-999", "1000+"]
MOBILE_PREFIXES = [
    "130",
    "131",
    "132",
    "133",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "153",
    "155",
    "156",
    "157",
    "158",
    "159",
    "166",
    "176",
    "177",
    "180",
    "181",
    "182",
    "183",
    "185",
    "186",
    "187",
    "188",
    "189",
    "191",
    "198",
    "199",
]
